"""Every read and write goes through a pyarrow filesystem, so a local path and an
`s3://` / `gs://` URI take the same code."""
from __future__ import annotations

import fnmatch
import hashlib
import os

import pyarrow.fs as pafs


def resolve(path: str) -> tuple[pafs.FileSystem, str]:
    """(filesystem, path inside it) for a local path or a URI."""
    if "://" in path:
        return pafs.FileSystem.from_uri(path)  # s3://bucket/key?endpoint_override=host:port&scheme=http
    return pafs.LocalFileSystem(), os.path.abspath(path)


def join(base: str, *parts: str) -> str:
    """Path parts appended to a path or URI; a URI's query (`?endpoint_override=...`, options
    pyarrow reads) stays at the end."""
    base, query = base.split("?", 1) if "://" in base and "?" in base else (base, "")
    joined = "/".join([base.rstrip("/"), *(p.strip("/") for p in parts)])
    return f"{joined}?{query}" if query else joined


def basename(path: str) -> str:
    """The last path component of a path or URI (without a URI's query)."""
    return path.split("?", 1)[0].rstrip("/").rsplit("/", 1)[-1] if "://" in path else os.path.basename(path.rstrip("/"))


def is_file(path: str) -> bool:
    fs, p = resolve(path)
    return fs.get_file_info(p).type == pafs.FileType.File


def file_info(path: str) -> pafs.FileInfo:
    fs, p = resolve(path)
    return fs.get_file_info(p)


def read_bytes(path: str) -> bytes:
    fs, p = resolve(path)
    with fs.open_input_stream(p) as f:
        return f.read()


def read_range(path: str, offset: int, length: int) -> bytes:
    """`length` bytes of a file from `offset` (fewer at its end): a header without the rest."""
    fs, p = resolve(path)
    with fs.open_input_file(p) as f:
        return f.read_at(length, offset)


def write_bytes(path: str, data: bytes) -> None:
    """Write a whole file; locally through a temporary name and a rename, so a reader never
    sees half of it (object stores make a single PUT visible all at once)."""
    fs, p = resolve(path)
    fs.create_dir(p.rsplit("/", 1)[0], recursive=True)
    tmp = p if not isinstance(fs, pafs.LocalFileSystem) else p + ".tmp"
    with fs.open_output_stream(tmp) as f:
        f.write(data)
    if tmp != p:
        fs.move(tmp, p)


def delete_dir(path: str) -> None:
    fs, p = resolve(path)
    if fs.get_file_info(p).type != pafs.FileType.NotFound:
        fs.delete_dir(p)


def list_files(path: str, suffix: str = "") -> list[str]:
    """Files directly under a directory, sorted, as full paths in the caller's spelling."""
    fs, p = resolve(path)
    infos = fs.get_file_info(pafs.FileSelector(p, allow_not_found=True))
    names = sorted(i.base_name for i in infos if i.type == pafs.FileType.File)
    return [join(path, n) for n in names if n.endswith(suffix)]


def file_sizes(path: str, suffix: str = "") -> dict[str, int]:
    """{name: size} of the files directly under a directory, from one listing."""
    fs, p = resolve(path)
    infos = fs.get_file_info(pafs.FileSelector(p, allow_not_found=True))
    return {i.base_name: i.size for i in infos if i.type == pafs.FileType.File and i.base_name.endswith(suffix)}


def list_dirs(path: str) -> list[str]:
    """Directories directly under `path`, sorted, as full paths (none if it does not exist)."""
    fs, p = resolve(path)
    infos = fs.get_file_info(pafs.FileSelector(p, allow_not_found=True))
    return [join(path, i.base_name) for i in sorted(infos, key=lambda i: i.base_name) if i.type == pafs.FileType.Directory]


def dir_size(path: str) -> int:
    fs, p = resolve(path)
    infos = fs.get_file_info(pafs.FileSelector(p, recursive=True, allow_not_found=True))
    return sum(i.size or 0 for i in infos if i.type == pafs.FileType.File)


def newest_mtime(path: str) -> float:
    """Seconds since the epoch of the newest file at or under `path` (0 if none)."""
    fs, p = resolve(path)
    info = fs.get_file_info(p)
    if info.type == pafs.FileType.File:
        return info.mtime.timestamp()
    infos = fs.get_file_info(pafs.FileSelector(p, recursive=True, allow_not_found=True))
    times = [i.mtime.timestamp() for i in infos if i.mtime is not None]
    return max(times, default=info.mtime.timestamp() if info.mtime else 0.0)


def delete(path: str) -> None:
    fs, p = resolve(path)
    info = fs.get_file_info(p)
    if info.type == pafs.FileType.Directory:
        fs.delete_dir(p)
    elif info.type == pafs.FileType.File:
        fs.delete_file(p)


def expand(pattern: str) -> list[str]:
    """A path, a directory (its files) or a glob in the last path component, as sorted files."""
    if not any(c in pattern for c in "*?["):
        info = file_info(pattern)
        if info.type == pafs.FileType.Directory:
            return list_files(pattern)
        return [pattern] if info.type == pafs.FileType.File else []
    parent, name = pattern.rsplit("/", 1) if "/" in pattern else (".", pattern)
    return [f for f in list_files(parent) if fnmatch.fnmatch(f.rsplit("/", 1)[1], name)]


def read_parquet(path: str, columns: list[str] | None = None):
    """Columns of one Parquet file as a pyarrow Table."""
    import pyarrow.parquet as pq

    fs, p = resolve(path)
    with fs.open_input_file(p) as f:
        return pq.read_table(f, columns=columns)


def sha256(path: str, chunk: int = 1 << 22) -> str:
    fs, p = resolve(path)
    digest = hashlib.sha256()
    with fs.open_input_stream(p) as f:
        while block := f.read(chunk):
            digest.update(block)
    return digest.hexdigest()
