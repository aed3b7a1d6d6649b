"""Packed passes: the pass's sequences end to end in one (T,) tensor, no padding anywhere, each
attending only to itself (engine.bert.Bert.packed runs the encoder over them).

Padded passes spend compute on padding in every matrix product (38% of the scorer's tokens on
review sentences, docs/performance.md); packed, the products see real tokens only and attention
keeps the sequences apart by their offsets (`cu_seqlens`). On a GPU in bf16 attention is flash
attention's variable-length kernel (`flash_varlen`); elsewhere attention alone
runs on the sequences padded to the pass's longest (`_padded_attention`), with the same outputs."""
from __future__ import annotations

import functools
from dataclasses import dataclass, field


@dataclass
class Packing:
    """Where the sequences of a packed pass lie: `cu_seqlens` (N + 1,) int32 offsets on the
    device, sequence s at tokens cu_seqlens[s]:cu_seqlens[s + 1]; `longest`: an upper bound on
    any sequence's length (sizes the attention kernel's grid; it need not be exact). Tokens
    past cu_seqlens[N] belong to no sequence: they attend to nothing and nothing to them (a pass
    sized by a bound the host knows, before the device has said how many tokens are real)."""

    cu_seqlens: object
    longest: int
    _layout: tuple | None = field(default=None, init=False, repr=False)

    def padded_layout(self) -> tuple:
        """For attention through padded tensors (`_padded_attention`), worked out once per pass
        and reused by every layer: index (N, L) of each padded slot's token (the real token
        count where it is padding), seen (N, L) bool, slot (T_real,) of each real token in the
        flattened (N * L) padded tensor, and T_real. Reading T_real waits for the device."""
        if self._layout is None:
            import torch

            cu = self.cu_seqlens.long()
            tokens = int(cu[-1])
            lengths = cu[1:] - cu[:-1]  # (N,)
            column = torch.arange(self.longest, device=cu.device)
            seen = column[None, :] < lengths[:, None]  # (N, L)
            index = torch.where(seen, cu[:-1, None] + column[None, :], tokens)
            owner = torch.repeat_interleave(torch.arange(len(lengths), device=cu.device), lengths, output_size=tokens)
            slot = owner * self.longest + torch.arange(tokens, device=cu.device) - cu[owner]
            self._layout = (index, seen, slot, tokens)
        return self._layout


def packed_attention(q, k, v, packing: Packing, firsts_only: bool = False):
    """Attention of (T, heads, D) queries, keys and values within each packed sequence. With
    `firsts_only` the queries are (N, heads, D), one per sequence (its first token's), and so is
    the output."""
    import torch

    kernel = flash_varlen() if q.is_cuda and q.dtype in (torch.bfloat16, torch.float16) else None
    if kernel is not None:
        cu = packing.cu_seqlens
        if firsts_only:  # sequence s's one query at s
            one_each = torch.arange(len(cu), dtype=cu.dtype, device=cu.device)
            return kernel(q, k, v, one_each, cu, 1, packing.longest)
        return kernel(q, k, v, cu, cu, packing.longest, packing.longest)
    return _padded_attention(q, k, v, packing, firsts_only)


# The flash kernel's leading arguments, as torch.nn.attention.varlen passes them to it.
FLASH_ARGUMENTS = ("query", "key", "value", "cum_seq_q", "cum_seq_k", "max_q", "max_k", "dropout_p", "is_causal",
                   "return_debug_mask")


@functools.cache  # asked once per layer of every pass
def flash_varlen():
    """Flash attention's variable-length kernel, `(q, k, v, cu_seq_q, cu_seq_k, max_q, max_k) ->
    output`, or None where this PyTorch has none. The kernel itself (aten._flash_attention_forward,
    what `torch.nn.attention.varlen.varlen_attn` calls on its flash path), not varlen_attn: which
    backend varlen_attn picks changes between PyTorch versions (mid-2026 nightlies prefer cuDNN's,
    which builds a plan for each new shape, and every pass here has new shapes: pytorch#187770),
    and its custom-op dispatch costs ~10 us a call on 2 cores, 12 calls a BERT-base pass."""
    import torch

    op = getattr(torch.ops.aten, "_flash_attention_forward", None)
    names = tuple(a.name for a in op.default._schema.arguments[:len(FLASH_ARGUMENTS)]) if op is not None else ()
    if names != FLASH_ARGUMENTS:
        return None

    def flash(q, k, v, cu_seq_q, cu_seq_k, max_q: int, max_k: int):
        return op(q, k, v, cu_seq_q, cu_seq_k, max_q, max_k, 0.0, False, False)[0]
    return flash


def _padded_attention(q, k, v, packing: Packing, firsts_only: bool = False):
    """The same attention through padded (N, heads, L, D) tensors and a key mask: for CPU and
    fp32, which the variable-length kernel does not take. Tokens past the last sequence get 0."""
    import torch

    index, seen, slot, tokens = packing.padded_layout()
    n, longest = seen.shape

    def padded(x):  # (T, heads, D) -> (N, heads, L, D); padding slots read the zero row
        return torch.cat([x[:tokens], x.new_zeros(1, *x.shape[1:])])[index].transpose(1, 2)

    if firsts_only:  # (N, heads, D) queries -> (N, heads, 1, D) -> (N, heads, D)
        return torch.nn.functional.scaled_dot_product_attention(
            q[:, :, None], padded(k), padded(v), attn_mask=seen[:, None, None, :])[:, :, 0]
    out = torch.nn.functional.scaled_dot_product_attention(
        padded(q), padded(k), padded(v), attn_mask=seen[:, None, None, :])  # (N, heads, L, D)
    out = out.transpose(1, 2).reshape(n * longest, *q.shape[1:])[slot]  # (real tokens, heads, D)
    return torch.cat([out, out.new_zeros(q.shape[0] - tokens, *out.shape[1:])])
