"""Experiment (round 29 candidate): a patch net that sees its neighbouring joints and answers on a finer grid.

Input per joint patch: the depth patch and a second channel with the limbs to its kinematic neighbours drawn
(segments from the patch centre to each neighbour's noisy 2D position, Gaussian width 1.5 cells). Trunk from
v14's patch net (the new channel's weights start at zero); heatmap at 1/2 of the patch (20 x 20) = the 1/4 map
upsampled + a zero-initialised correction from the 1/2 features. Trained as v14 was fine-tuned
(hypes/synthetic/patch/mixture3.json's data and noise), scored by the 2D error of seen joints on the
validation sets.

From the repository root (45,000 frames of data/mix_a..o loaded into memory, 7 GB; about 11 min an epoch on
this 2-core VM):

    OMP_NUM_THREADS=2 python benchmarks/reports/2026-12-07-cpu-2core-xeon-round29-2d/nbr_patch.py \
        checkpoints/r29_nbr/nbr 3
"""
import json
import sys
import time

import numpy as np
import torch
from torch import nn

from refinet_edge.checkpoint import load_stage
from refinet_edge.hypes import load_hypes
from refinet_edge.models.patch import _conv_bn_relu
from refinet_edge.skeleton import PARENTS
from refinet_edge.stage_io import patch_target
from refinet_edge.training.batches import _CPU, MAX_PATCH_TARGET_CELLS
from refinet_edge.training.frames import load_mixture
from refinet_edge.training.run import resolve_all, settings_from_hypes

J, S = 15, 40
NBR = [[p for p in (PARENTS[j],) if p >= 0] + [c for c, p in enumerate(PARENTS) if p == j] for j in range(J)]
K = max(len(n) for n in NBR)
NBR_IDX = np.array([n + [j] * (K - len(n)) for j, n in enumerate(NBR)])  # pad with self (zero-length segment)
NBR_OK = np.array([[1.0] * len(n) + [0.0] * (K - len(n)) for n in NBR], dtype=np.float32)
OFF = ((2 * np.arange(S) + 1 - S) / 2).astype(np.float32)


def limb_channel(uv, cell_px, width=1.5):
    """(B, J, S, S): segments from each joint to its neighbours, in that joint's patch cells."""
    rel = (uv[:, NBR_IDX, :] - uv[:, :, None, :]) / cell_px[:, :, None, :]  # (B, J, K, 2) cells
    rel = np.nan_to_num(rel.astype(np.float32), nan=0.0, posinf=0.0, neginf=0.0)
    pu = OFF[None, :]  # column offset
    pv = OFF[:, None]
    ru, rv = rel[..., 0][..., None, None], rel[..., 1][..., None, None]  # (B, J, K, 1, 1)
    n2 = ru * ru + rv * rv + 1e-6
    t = np.clip((pu * ru + pv * rv) / n2, 0.0, 1.0)
    d2 = (pu - t * ru) ** 2 + (pv - t * rv) ** 2
    val = np.exp(-d2 / (2 * width * width)) * NBR_OK[None, :, :, None, None] * (n2 > 1.0)
    return val.max(axis=2).astype(np.float32)


class NbrNet(nn.Module):
    def __init__(self, c=(8, 16, 32)):
        super().__init__()
        c1, c2, c3 = c
        self.trunk = nn.Sequential(
            *_conv_bn_relu(2, c1),
            *_conv_bn_relu(c1, c2, stride=2), *_conv_bn_relu(c2, c2),
            *_conv_bn_relu(c2, c3, stride=2), *_conv_bn_relu(c3, c3, dilation=2), *_conv_bn_relu(c3, c3, dilation=4),
        )
        self.head = nn.Conv2d(c3, J, 1)
        self.fine = nn.Sequential(*_conv_bn_relu(c3 + c2, 16), nn.Conv2d(16, J, 1))
        nn.init.zeros_(self.fine[-1].weight)
        nn.init.zeros_(self.fine[-1].bias)
        g = S // 2
        centres = torch.arange(g, dtype=torch.float32) * 2.0 - (S - 1) / 2.0
        self.register_buffer("grid_u", centres.repeat(g), persistent=False)
        self.register_buffer("grid_v", centres.repeat_interleave(g), persistent=False)
        self.register_buffer("own", torch.eye(J).reshape(1, J, J, 1), persistent=False)
        self.up = nn.Upsample(scale_factor=2, mode="nearest")

    def forward(self, patches, limbs):
        x = torch.stack([patches, limbs], dim=2).reshape(-1, 2, S, S)
        half = self.trunk[:9](x)
        quarter = self.trunk[9:](half)
        maps = self.up(self.head(quarter)) + self.fine(torch.cat([self.up(quarter), half], 1))
        g2 = (S // 2) ** 2
        maps = (maps.reshape(-1, J, J, g2) * self.own).sum(dim=2)
        prob = torch.softmax(maps, dim=-1)
        u = (prob * self.grid_u).sum(-1)
        v = (prob * self.grid_v).sum(-1)
        off = -torch.stack([u, v], dim=-1)
        du = self.grid_u - u.unsqueeze(-1)
        dv = self.grid_v - v.unsqueeze(-1)
        spread = torch.stack([(prob * du * du).sum(-1), (prob * dv * dv).sum(-1), (prob * du * dv).sum(-1)], -1)
        return torch.cat([off, spread], -1)


def init_from_v14(net, path="refinet_edge/weights/patch.safetensors"):
    old, _ = load_stage(path, expect_stage="patch")
    sd = old.state_dict()
    w = sd["trunk.0.weight"]
    sd["trunk.0.weight"] = torch.cat([w, torch.zeros_like(w)], 1)
    missing, unexpected = net.load_state_dict(sd, strict=False)
    assert not unexpected, unexpected
    assert all(k.startswith("fine.") for k in missing), missing


def batch_inputs(store, idx, noise, rng, cfg):
    depth = store.depth(idx)
    uv_gt = store.uv_px[idx]
    uv_in = noise.apply_2d(uv_gt, rng)
    z_ref = _CPU.lift(uv_in, depth, store.camera, cfg.lift_window)[0][..., 2]
    patches, cell_px = _CPU.patches(depth, uv_in, z_ref, store.camera, cfg.patch)
    target = np.clip(patch_target(uv_in, uv_gt, cell_px), -MAX_PATCH_TARGET_CELLS, MAX_PATCH_TARGET_CELLS)
    weight = np.all(np.isfinite(target), -1).astype(np.float32)
    return patches, limb_channel(uv_in, cell_px), np.nan_to_num(target).astype(np.float32), weight


def main():
    out = sys.argv[1]
    epochs = int(sys.argv[2])
    hypes = load_hypes("hypes/synthetic/patch/mixture3.json")
    settings = settings_from_hypes(hypes, None)
    cfg = settings.pipeline
    torch.manual_seed(0)
    net = NbrNet()
    init_from_v14(net)
    t0 = time.time()
    store = load_mixture(resolve_all(hypes, "train_dir"), "side", "train", limit=3000)
    print(f"loaded {len(store)} frames in {time.time() - t0:.0f} s", flush=True)
    opt = torch.optim.Adam(net.parameters(), lr=3e-4, weight_decay=1e-4)
    rng = np.random.default_rng(0)
    log = open(out + ".log.jsonl", "a")
    for epoch in range(epochs):
        if epoch == epochs - 1 and epochs > 1:
            for gp in opt.param_groups:
                gp["lr"] = 3e-5
        net.train()
        order = rng.permutation(len(store))
        steps = len(order) // 64
        total, t0 = 0.0, time.time()
        for step in range(steps):
            idx = np.sort(order[step * 64:(step + 1) * 64])
            p, lmb, tgt, w = batch_inputs(store, idx, settings.noise, rng, cfg)
            pred = net(torch.from_numpy(p), torch.from_numpy(lmb))[..., :2]
            sq = ((pred - torch.from_numpy(tgt)) ** 2).sum(-1)
            wt = torch.from_numpy(w)
            loss = (wt * sq).sum() / wt.sum().clamp(min=1.0)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(net.parameters(), 1.0)
            opt.step()
            total += loss.item()
            if (step + 1) % 200 == 0:
                print(f"epoch {epoch + 1} step {step + 1}/{steps} loss {total / (step + 1):.3f} "
                      f"{time.time() - t0:.0f} s", flush=True)
        rec = {"epoch": epoch + 1, "loss": total / steps, "seconds": time.time() - t0}
        print(json.dumps(rec), flush=True)
        log.write(json.dumps(rec) + "\n")
        log.flush()
        torch.save(net.state_dict(), out + ".pt")


if __name__ == "__main__":
    main()
