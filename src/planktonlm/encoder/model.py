"""ReadEncoder: a small transformer encoder for DNA reads, in the style of nanoGPT.

Pre-norm blocks (LayerNorm -> attention / MLP -> residual), learned token and position
embeddings (with ``overlap_embedding`` a k-mer token's input is the mean embedding of the k
overlapping k-mers that start in it, so a read of non-overlapping tokens still shows the model
every k-mer), bidirectional attention with a key-padding mask: fused
``scaled_dot_product_attention`` on CUDA, the same math as plain ops on CPU (see ``attention``).
A read's vector is the mean of the final hidden states over its real tokens (CLS included, so
an empty read still has one), L2-normalised. Two heads are used only in training: a masked-token
head (tied to the token embedding) and a small projection head for the contrastive loss.

Shapes: B = reads in the batch, T = tokens per read (padded), C = d_model, H = heads, D = C / H.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import torch
import torch.nn.functional as F
from torch import nn

from planktonlm.encoder.tokenizer import MASK_ID, N_SPECIAL, PAD_ID, UNK_ID, TokenizerSpec
from planktonlm.errors import InputProblem, PlanktonlmInputError

NO_BASE = "none"  # model.base: train from scratch
# Smallest share the cruise prior gives a reference, as a fraction of the uniform share: half.
# Lower floors (1e-4) score alike on the tuning split but let the prior of one cruise absorb the
# reads of an organism it lacked into its relatives: a later cruise embedded in that model
# (an atlas) would then hide the very organisms that novelty should reveal.
PRIOR_FLOOR_OF_UNIFORM = 0.5


@dataclass(frozen=True)
class ModelConfig:
    """The `model:` section of config.yaml (defaults and bounds: workflow/schemas/config.schema.yaml).

    Build it with ``planktonlm.config.build_config(ModelConfig, "model", section)``.
    """

    checkpoint: str  # folder of a trained model to reuse; "" = train on this cruise
    base: str  # folder of a pretrained model to fine-tune; "none" (NO_BASE) = train from scratch
    tokenizer: str  # "kmer" (non-overlapping k-mers) or "nucleotide"
    k: int  # bases per k-mer token (ignored for "nucleotide")
    n_layer: int  # transformer blocks
    n_head: int  # attention heads (d_model must be a multiple)
    d_model: int  # width of the hidden states and of the read vectors
    max_len: int  # tokens per read including CLS; longer reads are truncated
    dropout: float

    def tokenizer_spec(self) -> TokenizerSpec:
        return TokenizerSpec.from_model_section(self.tokenizer, self.k, self.max_len)

    def encoder_config(self) -> ReadEncoderConfig:
        """The architecture; a k-mer token also embeds the k-1 k-mers overlapping its end (k > 1)."""
        spec = self.tokenizer_spec()
        return ReadEncoderConfig(vocab_size=spec.vocab_size, max_len=self.max_len, n_layer=self.n_layer,
                                 n_head=self.n_head, d_model=self.d_model, dropout=self.dropout, k=spec.k,
                                 overlap_embedding=spec.k > 1)


@dataclass(frozen=True)
class ReadEncoderConfig:
    """Architecture of a ReadEncoder (saved as the ``model`` entry of config.json)."""

    vocab_size: int
    max_len: int = 40
    n_layer: int = 2
    n_head: int = 4
    d_model: int = 64
    dropout: float = 0.0
    mlp_ratio: int = 4
    proj_dim: int = 64  # width of the contrastive projection head's output
    k: int = 1  # bases per full k-mer token (token ids N_SPECIAL .. N_SPECIAL + 4**k - 1)
    overlap_embedding: bool = False  # token input = mean embedding of the k k-mers starting in it
    n_reference: int = 0  # reference genomes of the affinity readout (0 = none; base models have it)
    affinity_temperature: float = 10.0  # divides a read's summed k-mer log-probabilities
    affinity_share: float = 0.85  # share of the read vector's squared norm given to the affinity part
    reference_prior: bool = False  # a prior over the references estimated on the cruise (fine-tuned affinity models)
    mlm_target: str = "token"  # "token": predict the masked token id; "bases": predict its k bases (cheap for large k)

    @property
    def out_dim(self) -> int:
        """Width of a read vector: the affinities to the reference genomes, then the pooled state."""
        return self.n_reference + self.d_model

    def __post_init__(self) -> None:
        problems = []

        def bad(column: str, value: object, expected: str) -> None:
            problems.append(InputProblem(file="config", column=f"model.{column}", value=value,
                                         message="invalid model size", expected=expected))

        if self.n_layer < 1:
            bad("n_layer", self.n_layer, ">= 1")
        if self.n_head < 1 or self.d_model < 1 or self.d_model % self.n_head:
            bad("d_model", self.d_model, f"a positive multiple of n_head ({self.n_head})")
        if self.vocab_size < N_SPECIAL + 4**self.k:
            bad("k", self.k, f"a k whose 4**k k-mers fit the vocabulary ({self.vocab_size} tokens)")
        if not 0.0 <= self.dropout < 1.0:
            bad("dropout", self.dropout, "0 <= dropout < 1")
        if self.max_len < 2:
            bad("max_len", self.max_len, ">= 2")
        if self.n_reference < 0 or (self.n_reference and not self.overlap_embedding):
            bad("n_reference", self.n_reference, ">= 0, and > 0 only with overlapping k-mer embeddings")
        if self.reference_prior and not self.n_reference:
            bad("reference_prior", self.reference_prior, "false for a model without reference genomes (n_reference 0)")
        if self.mlm_target not in ("token", "bases"):
            bad("mlm_target", self.mlm_target, "token or bases")
        if not 0.0 <= self.affinity_share <= 1.0 or self.affinity_temperature <= 0:
            bad("affinity_share", self.affinity_share, "0 <= affinity_share <= 1 and affinity_temperature > 0")
        if problems:
            raise PlanktonlmInputError(problems)

    def to_dict(self) -> dict:
        return asdict(self)


def attention(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, key_mask: torch.Tensor,
              dropout_p: float) -> torch.Tensor:
    """softmax(q k^T / sqrt(D)) v over real keys: (B, H, T, D) x3, key_mask (B, 1, 1, T) -> (B, H, T, D).

    CUDA: fused ``scaled_dot_product_attention`` (flash / memory-efficient kernels). CPU: the
    same math written out, because torch's CPU attention kernels (flash forward, softmax
    backward) round differently with the thread count; these ops give the same bits on any
    number of threads, which keeps CPU training reproducible across machines.
    """
    if q.device.type != "cpu":
        return F.scaled_dot_product_attention(q, k, v, attn_mask=key_mask, dropout_p=dropout_p)
    scores = (q @ k.transpose(-2, -1)) * (1.0 / math.sqrt(q.shape[-1]))  # (B, H, T, T)
    scores = scores.masked_fill(~key_mask, float("-inf"))  # padded keys get no weight
    scores = scores - scores.amax(dim=-1, keepdim=True).detach()  # (B, H, T, T) stable exp
    weights = scores.exp()
    weights = weights / weights.sum(dim=-1, keepdim=True)  # (B, H, T, T) rows sum to 1
    if dropout_p > 0:
        weights = F.dropout(weights, dropout_p)
    return weights @ v  # (B, H, T, D)


class LayerNorm(nn.Module):
    """LayerNorm with its affine part as plain ops. torch's fused CPU kernel sums the weight
    gradient in chunks that depend on the thread count; this form gives the same bits on any."""

    def __init__(self, dim: int, eps: float = 1e-5):
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(dim))
        self.bias = nn.Parameter(torch.zeros(dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.layer_norm(x, (x.shape[-1],), eps=self.eps) * self.weight + self.bias  # (..., C)


class SelfAttention(nn.Module):
    """Bidirectional multi-head self-attention; padded keys are masked out."""

    def __init__(self, cfg: ReadEncoderConfig):
        super().__init__()
        self.n_head = cfg.n_head
        self.dropout = cfg.dropout
        self.qkv = nn.Linear(cfg.d_model, 3 * cfg.d_model)
        self.out = nn.Linear(cfg.d_model, cfg.d_model)
        self.resid_dropout = nn.Dropout(cfg.dropout)

    def forward(self, x: torch.Tensor, key_mask: torch.Tensor) -> torch.Tensor:
        B, T, C = x.shape
        H = self.n_head
        q, k, v = self.qkv(x).split(C, dim=2)  # 3 x (B, T, C)
        q = q.view(B, T, H, C // H).transpose(1, 2)  # (B, H, T, D)
        k = k.view(B, T, H, C // H).transpose(1, 2)  # (B, H, T, D)
        v = v.view(B, T, H, C // H).transpose(1, 2)  # (B, H, T, D)
        # key_mask (B, 1, 1, T): True where the key is a real token; broadcasts over heads, queries.
        y = attention(q, k, v, key_mask, self.dropout if self.training else 0.0)  # (B, H, T, D)
        y = y.transpose(1, 2).contiguous().view(B, T, C)  # (B, T, C)
        return self.resid_dropout(self.out(y))


class MLP(nn.Module):
    def __init__(self, cfg: ReadEncoderConfig):
        super().__init__()
        self.up = nn.Linear(cfg.d_model, cfg.mlp_ratio * cfg.d_model)
        self.down = nn.Linear(cfg.mlp_ratio * cfg.d_model, cfg.d_model)
        self.dropout = nn.Dropout(cfg.dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.dropout(self.down(F.gelu(self.up(x))))  # (B, T, C)


class Block(nn.Module):
    """Pre-norm transformer block."""

    def __init__(self, cfg: ReadEncoderConfig):
        super().__init__()
        self.ln_1 = LayerNorm(cfg.d_model)
        self.attn = SelfAttention(cfg)
        self.ln_2 = LayerNorm(cfg.d_model)
        self.mlp = MLP(cfg)

    def forward(self, x: torch.Tensor, key_mask: torch.Tensor) -> torch.Tensor:
        x = x + self.attn(self.ln_1(x), key_mask)  # (B, T, C)
        return x + self.mlp(self.ln_2(x))  # (B, T, C)


class ReadEncoder(nn.Module):
    """Transformer encoder of tokenized reads: hidden states, pooled read vectors, training heads."""

    def __init__(self, cfg: ReadEncoderConfig, generator: torch.Generator | None = None):
        super().__init__()
        self.cfg = cfg
        # Module constructors draw their default init from the global RNG; fork it so that
        # building a model never changes global state, then re-initialise from ``generator``.
        with torch.random.fork_rng(devices=[]):
            self.tok_emb = nn.Embedding(cfg.vocab_size, cfg.d_model)
            self.pos_emb = nn.Embedding(cfg.max_len, cfg.d_model)
            self.emb_dropout = nn.Dropout(cfg.dropout)
            self.blocks = nn.ModuleList(Block(cfg) for _ in range(cfg.n_layer))
            self.ln_f = LayerNorm(cfg.d_model)
            self.mlm_bias = nn.Parameter(torch.zeros(cfg.vocab_size))  # MLM head weight is tok_emb
            self.proj = nn.Sequential(nn.Linear(cfg.d_model, cfg.d_model), nn.GELU(),
                                      nn.Linear(cfg.d_model, cfg.proj_dim))
        if cfg.mlm_target == "bases":
            self.mlm_bases = nn.Linear(cfg.d_model, 4 * cfg.k)  # (C) -> k positions x 4 bases
        if cfg.n_reference:
            # Set by pretraining, not learned by gradients: log P(k-mer | reference genome) of every
            # k-mer (rows in base-4 order), and the pooled state's centre and spread over reads.
            # float16 halves the shipped file; a log-probability loses < 0.01 to the rounding.
            self.register_buffer("ref_logprob", torch.zeros(4**cfg.k, cfg.n_reference, dtype=torch.float16))
            self.register_buffer("pool_mean", torch.zeros(cfg.d_model))
            self.register_buffer("pool_std", torch.ones(cfg.d_model))
        if cfg.reference_prior:
            # log share of each reference among the cruise's reads (EM at the end of fine-tuning);
            # zeros = uniform. Base models have none, so their weights file stays as pretraining wrote it.
            self.register_buffer("ref_log_prior", torch.zeros(cfg.n_reference))
        # Bases and base-4 value of every token id (special tokens: 0 bases), for overlapping k-mers;
        # derived from the tokenizer's id layout, so not saved with the weights.
        bases, values = token_bases_and_values(cfg.vocab_size, cfg.k)
        self.register_buffer("token_bases", bases, persistent=False)
        self.register_buffer("token_value", values, persistent=False)
        self.init_weights(generator if generator is not None else torch.Generator().manual_seed(0))

    @torch.no_grad()
    def init_weights(self, generator: torch.Generator) -> None:
        """GPT-2 init: N(0, 0.02), residual projections scaled by 1/sqrt(2 n_layer); seeded."""
        residual_std = 0.02 / math.sqrt(2 * self.cfg.n_layer)
        for name, param in sorted(self.named_parameters()):
            if name.endswith("bias") or name == "mlm_bias":
                param.zero_()
            elif ".ln_" in name or name.startswith("ln_"):
                param.fill_(1.0)
            else:
                std = residual_std if name.endswith(("attn.out.weight", "mlp.down.weight")) else 0.02
                nn.init.normal_(param, 0.0, std, generator=generator)

    @property
    def d_model(self) -> int:
        return self.cfg.d_model

    def overlapping_kmers(self, ids: torch.Tensor, real: torch.Tensor) -> torch.Tensor:
        """Ids of the k k-mers that start in each token: (B, T) ids, (B, T) real mask -> (B, T, k).

        Token j (bases jk .. jk+k-1) holds its own k-mer and the k-1 that reach into token j+1,
        built from the ids of tokens j and j+1 (a full k-mer or the read's shorter tail token,
        whose bases its id also encodes). Where such a k-mer is not all bases (read end, N) its id
        is UNK, or MASK when a masked neighbour would reveal its bases.
        """
        k = self.cfg.k
        following = F.pad(ids[:, 1:].masked_fill(~real[:, 1:], PAD_ID), (0, 1), value=PAD_ID)  # (B, T) token j+1
        value = ids - N_SPECIAL  # (B, T) k-mer as a base-4 number where the token is a full k-mer
        own_full = self.token_bases[ids] == k  # (B, T)
        next_bases, next_value = self.token_bases[following], self.token_value[following]  # (B, T) each
        masked = (ids == MASK_ID) | (following == MASK_ID)
        fallback = torch.where(masked, MASK_ID, UNK_ID)  # (B, T) when a k-mer is not all bases
        kmers = [ids]
        for offset in range(1, k):
            reaches = own_full & (next_bases >= offset)  # (B, T) the next token has the bases this k-mer needs
            prefix = torch.div(next_value, 4 ** (next_bases - offset).clamp(min=0), rounding_mode="floor")  # (B, T)
            shifted = (value % 4 ** (k - offset)) * 4**offset + prefix  # (B, T)
            kmers.append(torch.where(reaches, N_SPECIAL + shifted, fallback))
        return torch.stack(kmers, dim=2)  # (B, T, k)

    def token_embedding(self, ids: torch.Tensor, real: torch.Tensor) -> torch.Tensor:
        """Input embedding of token ids (B, T) with real-token mask (B, T) -> (B, T, C).

        With ``overlap_embedding``, token j is the mean embedding of the k k-mers starting at its
        k bases (:meth:`overlapping_kmers`). The read's mean input embedding is then the mean over
        all its overlapping k-mers (what TNF-style composition sees), at the cost of
        non-overlapping tokens.
        """
        if not self.cfg.overlap_embedding:
            return self.tok_emb(ids)  # (B, T, C)
        return self.tok_emb(self.overlapping_kmers(ids, real)).mean(dim=2)  # (B, T, k, C) -> (B, T, C)

    def hidden(self, ids: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        """Final hidden states (B, T, C) of token ids (B, T) with real lengths (B,)."""
        B, T = ids.shape
        positions = torch.arange(T, device=ids.device)  # (T,)
        real = positions.unsqueeze(0) < lengths.unsqueeze(1)  # (B, T)
        key_mask = real.view(B, 1, 1, T)  # (B, 1, 1, T) broadcast over heads and queries
        x = self.emb_dropout(self.token_embedding(ids, real) + self.pos_emb(positions))  # (B, T, C)
        for block in self.blocks:
            x = block(x, key_mask)  # (B, T, C)
        return self.ln_f(x)  # (B, T, C)

    @staticmethod
    def pool(hidden: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        """Mean of the hidden states over each read's real tokens: (B, T, C) -> (B, C)."""
        T = hidden.shape[1]
        real = (torch.arange(T, device=hidden.device).unsqueeze(0) < lengths.unsqueeze(1)).to(hidden.dtype)  # (B, T)
        summed = torch.einsum("btc,bt->bc", hidden, real)  # (B, C)
        return summed / lengths.clamp(min=1).to(hidden.dtype).unsqueeze(1)  # (B, C)

    def forward(self, ids: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        """L2-normalised vectors (B, out_dim) of single reads.

        Without reference genomes: the pooled hidden state. With them: :meth:`readout` of the
        read's reference logits and its standardised pooled state.
        """
        pooled = self.pool(self.hidden(ids, lengths), lengths)  # (B, C)
        if not self.cfg.n_reference:
            return F.normalize(pooled, dim=-1)
        return self.readout(self.reference_logits(ids, lengths), self.standardized_state(pooled))

    def fragment_vectors(self, ids: torch.Tensor, lengths: torch.Tensor, owner: torch.Tensor, n_fragments: int) -> torch.Tensor:
        """L2-normalised vectors (F, out_dim) of fragments (read pairs or single reads), in fp32.

        Rows 0..R-1 of ``ids`` (2R, T) hold every read on one strand, rows R..2R-1 the same reads
        on the other strand; ``owner`` (R,) is the fragment of each read. Both strands count
        alike. Without reference genomes a fragment's vector is the mean of its reads' vectors.
        With them the reads' reference logits are summed, so the affinities are the posterior
        given the whole fragment (two mates are stronger evidence than either alone), and the
        standardised pooled states are averaged.
        """
        n_reads = owner.shape[0]
        if not self.cfg.n_reference:
            read_vectors = self(ids, lengths).float()  # (2R, C), each row L2-normalised
            # Addition commutes exactly, so the canonical/other split does not break the symmetry.
            per_read = (read_vectors[:n_reads] + read_vectors[n_reads:]) * 0.5  # (R, C) both strands
            return F.normalize(_sum_by_owner(per_read, owner, n_fragments), dim=-1)  # (F, C)
        state = self.standardized_state(self.pool(self.hidden(ids, lengths), lengths))  # (2R, C)
        logits = self.reference_logits(ids, lengths)  # (2R, G)
        state = F.normalize(_sum_by_owner((state[:n_reads] + state[n_reads:]) * 0.5, owner, n_fragments), dim=-1)  # (F, C)
        logits = _sum_by_owner((logits[:n_reads] + logits[n_reads:]) * 0.5, owner, n_fragments)  # (F, G)
        return self.readout(logits, state)

    def standardized_state(self, pooled: torch.Tensor) -> torch.Tensor:
        """Pooled states (B, C) centred and scaled by the spread recorded over reads, L2-normalised."""
        return F.normalize((pooled.float() - self.pool_mean) / self.pool_std, dim=-1)  # (B, C)

    def readout(self, logits: torch.Tensor, state: torch.Tensor) -> torch.Tensor:
        """[affinities, state] (B, G + C) of unit norm from reference logits (B, G) and unit states (B, C).

        ``affinity_share`` of the squared norm (and of a cosine similarity) comes from the affinities.
        """
        share = self.cfg.affinity_share
        return torch.cat([math.sqrt(share) * self.affinities_from_logits(logits), math.sqrt(1.0 - share) * state], dim=-1)

    def reference_logits(self, ids: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        """Sum of log P(k-mer | reference genome) over every overlapping k-mer of a read: (B, G) fp32.

        k-mers with N, padding and the unfilled end of a tail token add nothing.
        """
        T = ids.shape[1]
        real = torch.arange(T, device=ids.device).unsqueeze(0) < lengths.unsqueeze(1)  # (B, T)
        value = self.overlapping_kmers(ids, real) - N_SPECIAL  # (B, T, k) base-4 number of each full k-mer
        counted = real.unsqueeze(-1) & (value >= 0) & (value < 4**self.cfg.k)  # (B, T, k) real, all bases
        rows = F.embedding(value.clamp(0, 4**self.cfg.k - 1), self.ref_logprob).float()  # (B, T, k, G)
        return (rows * counted.unsqueeze(-1)).sum(dim=(1, 2))  # (B, G)

    def affinities_from_logits(self, logits: torch.Tensor) -> torch.Tensor:
        """Square roots of the tempered naive-Bayes posterior over the references: (B, G) -> (B, G).

        The logits are divided by ``affinity_temperature`` (overlapping k-mers are not independent
        evidence) and, in a fine-tuned model, the cruise's prior is added. The square root of a
        distribution has unit norm, and cosine similarity between two is the Bhattacharyya coefficient.
        """
        logits = logits.float() / self.cfg.affinity_temperature
        if self.cfg.reference_prior:
            logits = logits + self.ref_log_prior
        return torch.softmax(logits, dim=-1).sqrt()  # (B, G)

    def affinities(self, ids: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        """Affinities (B, G) of single reads (:meth:`affinities_from_logits` of :meth:`reference_logits`)."""
        return self.affinities_from_logits(self.reference_logits(ids, lengths))

    @torch.no_grad()
    def fit_reference_prior(self, logits: torch.Tensor, max_iter: int = 200, tol: float = 1e-7) -> torch.Tensor:
        """Estimate the share of each reference among fragments with reference logits (N, G); returns it (G,).

        EM for the mixture weights under the tempered likelihood: E-step the posteriors of every
        fragment, M-step their mean. References the cruise lacks fade towards the floor
        (``PRIOR_FLOOR_OF_UNIFORM`` of a uniform share) and stop drawing the reads of their close
        relatives that the cruise does hold. The floor keeps a rare member, one the estimate
        missed, or an organism a later cruise brings, reachable by reads that clearly match it.
        Deterministic: float64 on the CPU.
        """
        z = logits.detach().to("cpu", torch.float64) / self.cfg.affinity_temperature  # (N, G)
        n_ref = z.shape[1]
        floor = PRIOR_FLOOR_OF_UNIFORM / n_ref
        log_prior = torch.full((n_ref,), -math.log(n_ref), dtype=torch.float64)
        for _ in range(max_iter):
            share = torch.softmax(z + log_prior, dim=-1).mean(dim=0).clamp(min=floor)  # (G,)
            updated = (share / share.sum()).log()
            converged = bool((updated - log_prior).abs().max() < tol)
            log_prior = updated
            if converged:
                break
        self.ref_log_prior.copy_(log_prior.float())
        return log_prior.exp()

    def load_base_weights(self, weights: dict[str, torch.Tensor]) -> None:
        """Load a base model's weights; the cruise prior, which a base lacks, stays uniform."""
        missing, unexpected = self.load_state_dict(weights, strict=False)
        if unexpected or set(missing) - {"ref_log_prior"}:
            raise RuntimeError(f"base weights do not fit this architecture: missing {missing}, unexpected {unexpected}")

    @torch.no_grad()
    def set_pool_statistics(self, pooled: torch.Tensor) -> None:
        """Record the centre and spread of pooled states (N, C) of sample reads (affinity models only)."""
        self.pool_mean.copy_(pooled.float().mean(dim=0))
        self.pool_std.copy_(pooled.float().std(dim=0).clamp(min=1e-6))

    def mlm_loss(self, hidden: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        """Masked-token cross-entropy of selected hidden states (N, C) against their token ids (N,).

        ``mlm_target`` "bases": each of the k bases of a masked full k-mer is predicted (a 4-way
        choice per position instead of a 4**k-way one); masked tokens that are not full k-mers
        (read tails) are skipped.
        """
        if self.cfg.mlm_target == "token":
            return F.cross_entropy(self.mlm_logits(hidden).float(), targets)
        k = self.cfg.k
        value = targets - N_SPECIAL  # (N,) base-4 number of a full k-mer
        full = (value >= 0) & (value < 4**k)
        if not bool(full.any()):
            return hidden.new_zeros((), dtype=torch.float32)
        digits = (value[full].unsqueeze(1) // 4 ** torch.arange(k - 1, -1, -1, device=targets.device)) % 4  # (n, k)
        logits = self.mlm_bases(hidden[full]).view(-1, k, 4).float()  # (n, k, 4)
        return F.cross_entropy(logits.reshape(-1, 4), digits.reshape(-1))

    def mlm_logits(self, hidden: torch.Tensor) -> torch.Tensor:
        """Token logits of selected hidden states: (N, C) -> (N, vocab); weight tied to tok_emb."""
        return F.linear(hidden, self.tok_emb.weight, self.mlm_bias)

    def project(self, pooled: torch.Tensor) -> torch.Tensor:
        """Contrastive projection of pooled vectors (B, C) -> L2-normalised (B, proj_dim)."""
        return F.normalize(self.proj(pooled), dim=-1)


def token_bases_and_values(vocab_size: int, k: int) -> tuple[torch.Tensor, torch.Tensor]:
    """(bases, base-4 value) of every token id: full k-mers, then the tails of 1 .. k-1 bases (tokenizer order)."""
    bases = torch.zeros(vocab_size, dtype=torch.int64)
    values = torch.zeros(vocab_size, dtype=torch.int64)
    start = N_SPECIAL
    for m in (k, *range(1, k)):
        stop = min(start + 4**m, vocab_size)
        bases[start:stop] = m
        values[start:stop] = torch.arange(stop - start)
        start = stop
    return bases, values


def count_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())



def _sum_by_owner(rows: torch.Tensor, owner: torch.Tensor, n_groups: int) -> torch.Tensor:
    """Sum of the rows (R, D) of each group (owner (R,) in 0..n_groups-1): (n_groups, D)."""
    summed = torch.zeros((n_groups, rows.shape[1]), dtype=rows.dtype, device=rows.device)  # (F, D)
    return summed.index_add_(0, owner, rows)
