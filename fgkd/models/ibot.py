"""An iBOT-style baseline at embedded scale (Zhou et al. 2022, https://arxiv.org/abs/2111.07832),
the strong SSL baseline of LEAD Table 5.

A tiny ViT student and its EMA teacher, each with a shared projection head onto ``out_dim``
prototypes, trained on two views with the two iBOT objectives:

- [CLS] self-distillation across views (DINO): the student's [CLS] distribution for view b matches the
  teacher's for view a != b,
  ``L_cls = 1/2 sum_{a != b} mean_n H(P_t^cls(x_a), P_s^cls(x_b))``.
- Masked image modelling: the student sees view v with a random set M of patch embeddings replaced by
  a learned [MASK] token; at the masked positions its patch distributions match the teacher's patch
  distributions of the *unmasked* view,
  ``L_mim = 1/2 sum_v mean_n (1/|M_n|) sum_{i in M_n} H(P_t^patch(x_v)_i, P_s^patch(x_v^masked)_i)``.

``H(p, q) = -sum_k p_k log q_k``; ``P_s = softmax(s / tau_s)``; the teacher is centred and sharpened,
``P_t = softmax((t - c) / tau_t)`` with ``tau_t < tau_s`` and the centre ``c`` an EMA of the teacher's
batch-mean outputs (separate centres for [CLS] and patch tokens). Simplifications against the paper,
to fit 32-64 px CPU training: two global views and no local crops, random (not block-wise) patch
masking, fixed teacher temperature (no warm-up), no weight-decay schedule. The representation that
is evaluated is the teacher's [CLS] token, as in DINO and iBOT.
"""

from __future__ import annotations

import copy

import torch
import torch.nn.functional as F
from torch import nn

from fgkd.models.moco import concat_all_gather, momentum_update


class TinyViT(nn.Module):
    """A small pre-norm ViT: ``[N, 3, S, S] -> [N, 1 + P, D]`` tokens (P = (S / patch)^2), CLS first."""

    def __init__(self, image_size: int = 32, patch_size: int = 4, embed_dim: int = 192, depth: int = 4,
                 num_heads: int = 3, mlp_ratio: float = 4.0) -> None:
        super().__init__()
        if image_size % patch_size:
            raise ValueError(f"image_size {image_size} must be a multiple of patch_size {patch_size}")
        if embed_dim % num_heads:
            raise ValueError(f"embed_dim {embed_dim} must be a multiple of num_heads {num_heads}")
        self.image_size = image_size
        self.num_patches = (image_size // patch_size) ** 2
        self.embed_dim = embed_dim
        self.patch_embed = nn.Conv2d(3, embed_dim, kernel_size=patch_size, stride=patch_size)
        self.cls_token = nn.Parameter(torch.zeros(1, 1, embed_dim))
        self.mask_token = nn.Parameter(torch.zeros(1, 1, embed_dim))
        self.pos_embed = nn.Parameter(torch.zeros(1, 1 + self.num_patches, embed_dim))
        for p in (self.cls_token, self.pos_embed):
            nn.init.trunc_normal_(p, std=0.02)
        layer = nn.TransformerEncoderLayer(embed_dim, num_heads, int(embed_dim * mlp_ratio), dropout=0.0,
                                           activation="gelu", batch_first=True, norm_first=True)
        self.blocks = nn.TransformerEncoder(layer, depth, enable_nested_tensor=False)
        self.norm = nn.LayerNorm(embed_dim)

    def tokens(self, x: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        """Token features ``[N, 1 + P, D]``; ``mask`` [N, P] bool replaces those patches by [MASK]."""
        if x.shape[-2:] != (self.image_size, self.image_size):
            raise ValueError(f"TinyViT was built for {self.image_size} px images, got {tuple(x.shape[-2:])}; "
                             "resize the inputs or build it with image_size matching them")
        x = self.patch_embed(x).flatten(2).transpose(1, 2)  # [N, P, D]
        if mask is not None:
            x = torch.where(mask.unsqueeze(-1), self.mask_token.to(x.dtype), x)
        x = torch.cat([self.cls_token.expand(x.shape[0], -1, -1), x], dim=1) + self.pos_embed  # [N, 1+P, D]
        return self.norm(self.blocks(x))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """The [CLS] feature ``[N, D]``."""
        return self.tokens(x)[:, 0]


class PrototypeHead(nn.Module):
    """DINO/iBOT head: MLP -> L2-normalise -> cosine scores against ``out_dim`` normalised prototypes.

    Normalising the prototype rows equals DINO's weight-normalised last layer with its norm fixed to 1.
    """

    def __init__(self, in_dim: int, out_dim: int, hidden_dim: int = 512, bottleneck_dim: int = 128) -> None:
        super().__init__()
        self.mlp = nn.Sequential(nn.Linear(in_dim, hidden_dim), nn.GELU(), nn.Linear(hidden_dim, hidden_dim),
                                 nn.GELU(), nn.Linear(hidden_dim, bottleneck_dim))
        self.prototypes = nn.Parameter(torch.randn(out_dim, bottleneck_dim) * 0.02)  # [K, B]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.normalize(self.mlp(x), dim=-1)  # [..., B]
        return x @ F.normalize(self.prototypes, dim=-1).T  # [..., K]


class _Network(nn.Module):
    def __init__(self, vit: TinyViT, head: PrototypeHead) -> None:
        super().__init__()
        self.vit = vit
        self.head = head

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        return self.head(self.vit.tokens(x, mask))  # [N, 1+P, K]


def _cross_entropy(target_probs: torch.Tensor, student_logits: torch.Tensor, temperature: float) -> torch.Tensor:
    """``H(p_t, softmax(s / tau_s)) = -sum_k p_t,k log softmax(s / tau_s)_k`` over the last dim."""
    return -(target_probs * F.log_softmax(student_logits / temperature, dim=-1)).sum(-1)


# Named ViTs of the iBOT baseline: fgkd's small one for 32-64 px CPU runs, and iBOT's ViT-S/16
# (patch 16, 384 wide, 12 blocks, 6 heads; head K = 8192, hidden 2048, bottleneck 256) for 224 px.
VITS: dict[str, dict[str, int]] = {
    "tiny": dict(patch_size=4, embed_dim=192, depth=4, num_heads=3, out_dim=1024, head_hidden_dim=512,
                 bottleneck_dim=128),
    "vit_small_16": dict(patch_size=16, embed_dim=384, depth=12, num_heads=6, out_dim=8192, head_hidden_dim=2048,
                         bottleneck_dim=256),
}


class IBOT(nn.Module):
    """iBOT-style student/teacher (see the module docstring for the objectives).

    Args:
        image_size, patch_size, embed_dim, depth, num_heads: the ViT (defaults: 32 px, 4 px patches,
            a 192-d, 4-block, 3-head ViT with 64 patches).
        out_dim: K, number of prototypes of the shared [CLS]/patch head.
        head_hidden_dim, bottleneck_dim: widths of the head's MLP.
        student_temperature, teacher_temperature: tau_s and tau_t (0.1 and 0.04 as iBOT).
        center_momentum: EMA momentum of the teacher centres (0.9).
        teacher_momentum: EMA momentum of the teacher (0.996); the training loop may change it.
        mask_probability: chance that a view is masked at all (0.5 as iBOT).
        mask_ratio: range of the masked fraction of patches for a masked view ((0.1, 0.5) as iBOT).
        lambda_cls, lambda_mim: weights of the two objectives (1, 1).
    """

    def __init__(
        self,
        *,
        image_size: int = 32,
        patch_size: int = 4,
        embed_dim: int = 192,
        depth: int = 4,
        num_heads: int = 3,
        out_dim: int = 1024,
        head_hidden_dim: int = 512,
        bottleneck_dim: int = 128,
        student_temperature: float = 0.1,
        teacher_temperature: float = 0.04,
        center_momentum: float = 0.9,
        teacher_momentum: float = 0.996,
        mask_probability: float = 0.5,
        mask_ratio: tuple[float, float] = (0.1, 0.5),
        lambda_cls: float = 1.0,
        lambda_mim: float = 1.0,
    ) -> None:
        super().__init__()
        if not (student_temperature > 0 and teacher_temperature > 0):
            raise ValueError(f"temperatures must be > 0, got student={student_temperature}, "
                             f"teacher={teacher_temperature}")
        for name, value in (("center_momentum", center_momentum), ("teacher_momentum", teacher_momentum),
                            ("mask_probability", mask_probability)):
            if not 0.0 <= value <= 1.0:
                raise ValueError(f"{name} must be in [0, 1], got {value}")
        if not 0.0 <= mask_ratio[0] <= mask_ratio[1] <= 1.0:
            raise ValueError(f"mask_ratio must be (low, high) with 0 <= low <= high <= 1, got {mask_ratio}")
        vit = TinyViT(image_size, patch_size, embed_dim, depth, num_heads)
        self.student = _Network(vit, PrototypeHead(embed_dim, out_dim, head_hidden_dim, bottleneck_dim))
        self.teacher = copy.deepcopy(self.student)
        for p in self.teacher.parameters():
            p.requires_grad = False
        self.feature_dim = embed_dim
        self.num_patches = vit.num_patches
        self.student_temperature = student_temperature
        self.teacher_temperature = teacher_temperature
        self.center_momentum = center_momentum
        self.teacher_momentum = teacher_momentum
        self.mask_probability = mask_probability
        self.mask_ratio = mask_ratio
        self.lambda_cls = lambda_cls
        self.lambda_mim = lambda_mim
        self.register_buffer("center_cls", torch.zeros(out_dim))  # c for [CLS] tokens, [K]
        self.register_buffer("center_patch", torch.zeros(out_dim))  # c for patch tokens, [K]

    @property
    def backbone(self) -> TinyViT:
        """The teacher ViT, whose [CLS] feature is evaluated."""
        return self.teacher.vit

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """Teacher [CLS] features for probing and retrieval: ``[N, 3, S, S] -> [N, embed_dim]``."""
        return self.teacher.vit(x)

    @torch.no_grad()
    def update_teacher(self) -> None:
        momentum_update(self.student, self.teacher, self.teacher_momentum)

    def random_masks(self, n: int, device: torch.device | str = "cpu",
                     generator: torch.Generator | None = None) -> torch.Tensor:
        """Random patch masks ``[n, P]`` bool: each view is masked with ``mask_probability``; a masked
        view hides ``round(r * P)`` random patches, ``r ~ U(mask_ratio)``."""
        p = self.num_patches
        masked = torch.rand(n, generator=generator) < self.mask_probability  # [n]
        ratio = torch.empty(n).uniform_(*self.mask_ratio, generator=generator)  # [n]
        count = torch.where(masked, (ratio * p).round(), torch.zeros(n)).long()  # [n]
        rank = torch.rand(n, p, generator=generator).argsort(dim=1).argsort(dim=1)  # random rank per patch
        return (rank < count.unsqueeze(1)).to(device)  # [n, P]

    def forward(self, x1: torch.Tensor, x2: torch.Tensor,
                masks: tuple[torch.Tensor, torch.Tensor] | None = None) -> dict[str, torch.Tensor]:
        """Losses on two views ``[N, 3, S, S]``: ``{"total", "cls", "mim", "mask_ratio"}``.

        ``masks``: one ``[N, P]`` bool mask per view (default: ``random_masks``). In training mode
        the teacher is first updated by EMA (as MoCo updates its key encoder) and the centres are
        updated from this batch's teacher outputs after the losses are computed.
        """
        views = (x1, x2)
        if masks is None:
            masks = tuple(self.random_masks(x.shape[0], x.device) for x in views)
        for x, m in zip(views, masks):
            if m.shape != (x.shape[0], self.num_patches) or m.dtype != torch.bool:
                raise ValueError(f"each mask must be bool [{x.shape[0]}, {self.num_patches}], "
                                 f"got {m.dtype} {tuple(m.shape)}")
        if self.training:
            self.update_teacher()
        with torch.no_grad():
            t_out = [self.teacher(x) for x in views]  # 2 x [N, 1+P, K], teacher sees unmasked views
            t_cls = [F.softmax((t[:, 0] - self.center_cls) / self.teacher_temperature, -1) for t in t_out]
            t_patch = [F.softmax((t[:, 1:] - self.center_patch) / self.teacher_temperature, -1) for t in t_out]
        s_out = [self.student(x, m) for x, m in zip(views, masks)]  # 2 x [N, 1+P, K]

        tau_s = self.student_temperature
        loss_cls = 0.5 * sum(
            _cross_entropy(t_cls[a], s_out[b][:, 0], tau_s).mean() for a in range(2) for b in range(2) if a != b
        )
        loss_mim = 0.0
        for v in range(2):
            ce = _cross_entropy(t_patch[v], s_out[v][:, 1:], tau_s)  # [N, P]
            m = masks[v].to(ce.dtype)
            # per-image mean over its masked patches; an unmasked image contributes 0 (as iBOT)
            loss_mim = loss_mim + 0.5 * ((ce * m).sum(1) / m.sum(1).clamp(min=1.0)).mean()
        total = self.lambda_cls * loss_cls + self.lambda_mim * loss_mim

        if self.training:
            self._update_centers(t_out)
        mask_ratio = torch.stack([m.float().mean() for m in masks]).mean()
        return {"total": total, "cls": loss_cls.detach(), "mim": loss_mim.detach(), "mask_ratio": mask_ratio}

    @torch.no_grad()
    def _update_centers(self, t_out: list[torch.Tensor]) -> None:
        cls = concat_all_gather(torch.cat([t[:, 0] for t in t_out]))  # [2N * world, K]
        patch = concat_all_gather(torch.cat([t[:, 1:].mean(1) for t in t_out]))  # [2N * world, K]
        m = self.center_momentum
        self.center_cls.mul_(m).add_(cls.mean(0), alpha=1 - m)
        self.center_patch.mul_(m).add_(patch.mean(0), alpha=1 - m)
