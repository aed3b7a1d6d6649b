"""The engine's one error for bad input. Its own module so that what raises it (model actors
among them) need not import the readers, and polars with them."""


class InputError(ValueError):
    """Bad input data; the message names the file, row or key."""
