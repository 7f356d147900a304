"""Pre-norm transformer blocks with an optional KV cache (shared by the token generators)."""

from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F


class KVCache:
    """Per-layer keys/values, preallocated to `max_len` positions; rows can be dropped."""

    def __init__(self, n_layer: int, batch: int, n_head: int, max_len: int, head_dim: int,
                 device, dtype):
        shape = (batch, n_head, max_len, head_dim)
        self.k = [torch.zeros(shape, device=device, dtype=dtype) for _ in range(n_layer)]
        self.v = [torch.zeros(shape, device=device, dtype=dtype) for _ in range(n_layer)]

    def select_rows(self, rows: torch.Tensor) -> None:
        self.k = [k.index_select(0, rows) for k in self.k]
        self.v = [v.index_select(0, rows) for v in self.v]


class SelfAttention(nn.Module):
    def __init__(self, d_model: int, n_head: int, dropout: float, causal: bool = True):
        super().__init__()
        self.causal = causal
        if d_model % n_head:
            raise ValueError(f"d_model {d_model} is not divisible by n_head {n_head}")
        self.n_head, self.head_dim = n_head, d_model // n_head
        self.qkv = nn.Linear(d_model, 3 * d_model)
        self.proj = nn.Linear(d_model, d_model)
        self.dropout = dropout

    def forward(self, x_BLC: torch.Tensor, cache: KVCache | None, layer: int, pos: int,
                attn_mask: torch.Tensor | None) -> torch.Tensor:
        B, L, C = x_BLC.shape
        q, k, v = self.qkv(x_BLC).view(B, L, 3, self.n_head, self.head_dim).permute(2, 0, 3, 1, 4)
        if cache is not None:
            cache.k[layer][:, :, pos:pos + L] = k
            cache.v[layer][:, :, pos:pos + L] = v
            k, v = cache.k[layer][:, :, :pos + L], cache.v[layer][:, :, :pos + L]
        drop = self.dropout if self.training else 0.0
        if attn_mask is None:
            # causal over the new tokens, which see every cached position before them
            causal = self.causal and L > 1
            if causal and pos > 0:
                attn_mask = torch.ones(L, pos + L, dtype=torch.bool, device=x_BLC.device).tril(pos)
                causal = False
            out = F.scaled_dot_product_attention(q, k, v, attn_mask=attn_mask, is_causal=causal, dropout_p=drop)
        else:
            out = F.scaled_dot_product_attention(q, k, v, attn_mask=attn_mask, dropout_p=drop)
        return self.proj(out.transpose(1, 2).reshape(B, L, C))


class Block(nn.Module):
    def __init__(self, d_model: int, n_head: int, mlp_ratio: float, dropout: float, causal: bool = True):
        super().__init__()
        self.ln1 = nn.LayerNorm(d_model)
        self.attn = SelfAttention(d_model, n_head, dropout, causal)
        self.ln2 = nn.LayerNorm(d_model)
        hidden = int(d_model * mlp_ratio)
        self.mlp = nn.Sequential(nn.Linear(d_model, hidden), nn.GELU(approximate="tanh"),
                                 nn.Linear(hidden, d_model), nn.Dropout(dropout))

    def forward(self, x_BLC, cache=None, layer=0, pos=0, attn_mask=None):
        x_BLC = x_BLC + self.attn(self.ln1(x_BLC), cache, layer, pos, attn_mask)
        return x_BLC + self.mlp(self.ln2(x_BLC))
