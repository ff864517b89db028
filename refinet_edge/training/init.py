"""Start a training run from a trained checkpoint (``train.init_from``): fine-tuning on new data.

Every tensor is copied from the checkpoint and must have the new model's shape, with two exceptions, each
starting from exactly (or, for the second, to within the symmetry-breaking noise) what the checkpoint computed:

* The skeleton stage's first layer may read more numbers per joint than the checkpoint's did (the four evidence
  features appended to x, y, z and the two ray features, :mod:`refinet_edge.stage_io`). Its weight matrix is
  then widened joint by joint: the checkpoint's columns for each joint's old features are kept and the new
  features' columns are zero.
* A heatmap patch net (:class:`~refinet_edge.models.patch.PatchHeatmapNet`) may be wider than the checkpoint's
  (``heatmap_channels`` each at least the checkpoint's). It is widened as in Net2Net's "Net2WiderNet" (Chen,
  Goodfellow and Shlens, ICLR 2016): new channel ``k`` of a conv copies old channel ``k mod c`` (its filter and
  its batch norm's scale, shift and running statistics), and the next conv divides each input channel's
  weights by the number of copies of it, so every layer passes on the same sums. Copies then get identical
  gradients for ever, so the copies' incoming filters get Gaussian noise of ``WIDEN_NOISE`` times the layer's
  weight standard deviation (seeded): the widened net's offsets differ from the checkpoint's by hundredths of
  a cell (``tests/test_training.py``).
* A point-cloud net (:class:`~refinet_edge.models.pointcloud.PointCloudNet`, without its STNs) may be wider
  than the checkpoint's (``conv_channels`` and ``head_size`` each at least the checkpoint's), widened the same
  way: conv1 -> conv2 -> conv3 -> the max-pool (a copied channel's maximum is its original's) -> the head's first
  Linear -> its batch norm and the per-joint bias -> the last Linear, whose input columns are divided by the
  copies. Its offsets then equal the checkpoint's up to the noise (exactly in eval mode with noise 0).
* A skeleton transformer (``model.arch`` ``transformer`` or ``ensemble``) may be deeper than the checkpoint's
  (``num_layers`` at least the checkpoint's, the same token, head and feed-forward sizes). The checkpoint's
  layers come first, unchanged; each new layer keeps its own random initialisation except for the two Linears
  that write into the residual stream (the attention's ``proj`` and the feed-forward's last Linear), which start
  at zero. A pre-norm layer whose writes are zero passes its input through unchanged, so the deeper net computes
  exactly what the checkpoint did (``tests/test_skeleton_transformer.py``) and the new layers learn from there (the
  function-preserving growth of Net2Net's "Net2DeeperNet", Chen, Goodfellow and Shlens, ICLR 2016, for
  residual layers).
"""

from __future__ import annotations

from pathlib import Path

from ..errors import RefinetError

INPUT_WEIGHT = "input.0.weight"  # SkeletonNet's first Linear (models/skeleton.py: _layer)
WIDEN_NOISE = 1e-3  # noise on a widened net's copied filters (patch or point-cloud), times the layer's weight std
TRUNK_CONVS = (0, 3, 6, 9, 12, 15)  # PatchHeatmapNet.trunk: the conv of each conv + BN + ReLU triple
POINT_LAYERS = (("conv1.0", "conv1.1"), ("conv2.0", "conv2.1"), ("conv3.0", "conv3.1"), ("head.0", "head.1"))
# PointCloudNet: each widened layer and the batch norm on its outputs
RESIDUAL_WRITES = ("proj.", "ff.3.")  # EncoderLayer's Linears that write into the residual stream


def init_from_checkpoint(model, path: str | Path, stage: str, seed: int = 0) -> str:
    """Load ``path``'s weights into ``model`` (in place); returns a one-line description of what was done.
    ``seed`` seeds the symmetry-breaking noise of a widened patch net."""
    from ..checkpoint import load_stage

    source, info = load_stage(path, expect_stage=stage)
    old, new = source.state_dict(), model.state_dict()
    old_widths = getattr(source.config, "heatmap_channels", None)
    new_widths = getattr(model.config, "heatmap_channels", None)
    if stage == "patch" and getattr(model.config, "arch", None) == "heatmap" and old_widths != new_widths:
        if getattr(source.config, "arch", None) != "heatmap":
            raise RefinetError(f"train.init_from {path}: a {source.config.arch!r} patch net cannot start a "
                               f"heatmap patch net (another architecture)")
        if any(n < o for n, o in zip(new_widths, old_widths, strict=True)):
            raise RefinetError(f"train.init_from {path}: heatmap_channels {list(old_widths)} cannot shrink to "
                               f"{list(new_widths)} (a patch net can only be widened)")
        old = widen_heatmap_patch(old, new, seed)
        model.load_state_dict(old, strict=True)
        return (f"initialised from {path} ({info.stage}, {info.sha256[:12]}); heatmap channels widened "
                f"{list(old_widths)} -> {list(new_widths)} (Net2WiderNet, noise {WIDEN_NOISE})")
    if stage == "pointcloud" and _point_widths(source.config) != _point_widths(model.config):
        old_w, new_w = _point_widths(source.config), _point_widths(model.config)
        if source.config.input_transform or source.config.feature_transform or model.config.input_transform \
                or model.config.feature_transform:
            raise RefinetError(f"train.init_from {path}: only a point-cloud net without STNs can be widened")
        if any(n < o for n, o in zip(new_w, old_w, strict=True)):
            raise RefinetError(f"train.init_from {path}: conv_channels + head_size {list(old_w)} cannot shrink to "
                               f"{list(new_w)} (a point-cloud net can only be widened)")
        model.load_state_dict(widen_pointcloud(old, new, seed), strict=True)
        return (f"initialised from {path} ({info.stage}, {info.sha256[:12]}); conv_channels + head_size widened "
                f"{list(old_w)} -> {list(new_w)} (Net2WiderNet, noise {WIDEN_NOISE})")
    widened = []
    state = {}
    deeper = _deeper_layers(source.config, model.config, stage, path)
    for key, target in new.items():
        if key not in old and key.startswith(deeper):
            writes = key.split(".", 2)[2].startswith(RESIDUAL_WRITES)  # layers.<i>.<rest>
            state[key] = target.new_zeros(target.shape) if writes else target.clone()  # module docstring
            continue
        if key not in old:
            raise RefinetError(f"train.init_from {path}: has no tensor {key!r} (another architecture)")
        tensor = old[key]
        if tensor.shape != target.shape:
            if not (stage == "skeleton" and key == INPUT_WEIGHT):
                raise RefinetError(f"train.init_from {path}: {key} is {tuple(tensor.shape)}, the model needs "
                                   f"{tuple(target.shape)} (only the skeleton's input layer may widen)")
            tensor = _widen_input(tensor, target.shape, model.config.num_joints, str(path))
            widened.append(key)
        state[key] = tensor.to(target.dtype)
    model.load_state_dict(state, strict=True)
    note = f"; {', '.join(widened)} widened with zero columns for the new input features" if widened else ""
    if deeper:
        note += (f"; transformer deepened {source.config.num_layers} -> {model.config.num_layers} layers (the new "
                 f"ones pass their input through: proj and ff.3 start at zero)")
    return f"initialised from {path} ({info.stage}, {info.sha256[:12]}){note}"


def _deeper_layers(old_config, new_config, stage: str, path) -> tuple[str, ...]:
    """The state-dict prefixes (``layers.<i>.``) of the transformer layers ``new_config`` adds to the
    checkpoint's; () if it adds none. Refuses a shallower model and other token / head / feed-forward sizes."""
    if stage != "skeleton" or not getattr(new_config, "has_transformer", False) \
            or not getattr(old_config, "has_transformer", False):
        return ()
    old_n, new_n = old_config.num_layers, new_config.num_layers
    if new_n == old_n:
        return ()
    if new_n < old_n:
        raise RefinetError(f"train.init_from {path}: num_layers {old_n} cannot shrink to {new_n} (a transformer "
                           f"can only be deepened)")
    for name in ("token_size", "num_heads", "ff_size"):
        if getattr(old_config, name) != getattr(new_config, name):
            raise RefinetError(f"train.init_from {path}: a deeper transformer needs the checkpoint's {name} "
                               f"({getattr(old_config, name)}), got {getattr(new_config, name)}")
    return tuple(f"layers.{i}." for i in range(old_n, new_n))


def _widen_input(weight, shape, joints: int, where: str):
    """``weight (L, J*F_old)`` -> ``(L, J*F_new)``: each joint's old columns kept, the new ones zero."""
    import torch

    rows, cols = weight.shape
    if shape[0] != rows or cols % joints or shape[1] % joints or shape[1] < cols:
        raise RefinetError(f"train.init_from {where}: cannot widen the input layer {tuple(weight.shape)} to "
                           f"{tuple(shape)}")
    f_old, f_new = cols // joints, shape[1] // joints
    out = torch.zeros(shape, dtype=weight.dtype)
    out.view(rows, joints, f_new)[:, :, :f_old] = weight.view(rows, joints, f_old)
    return out


def widen_heatmap_patch(old: dict, new: dict, seed: int = 0, noise: float = WIDEN_NOISE) -> dict:
    """A heatmap patch net's state dict ``old`` widened to the shapes of ``new`` (see the module docstring):
    the returned state computes the same offsets as ``old`` up to ``noise`` (exactly with ``noise=0``)."""
    import torch

    gen = torch.Generator().manual_seed(seed)
    out = {}
    copies_in = None  # per input channel of the current conv: (old channel, number of its copies)
    for i in TRUNK_CONVS:
        copies_in = _widen_layer(old, new, f"trunk.{i}", f"trunk.{i + 1}", copies_in, noise, gen, out)
    assert copies_in is not None
    head = old["head.weight"]
    out["head.weight"] = head[:, copies_in[0]] / copies_in[1].view(1, -1, 1, 1).to(head.dtype)
    out["head.bias"] = old["head.bias"].clone()
    missing = set(new) - set(out)
    if missing:
        raise RefinetError(f"widening a heatmap patch net: no rule for {sorted(missing)}")
    return {k: out[k].to(new[k].dtype).reshape(new[k].shape) for k in new}


def _point_widths(config) -> tuple[int, ...]:
    return (*config.conv_channels, config.head_size)


def widen_pointcloud(old: dict, new: dict, seed: int = 0, noise: float = WIDEN_NOISE) -> dict:
    """A point-cloud net's state dict ``old`` (no STNs) widened to the shapes of ``new`` (module docstring): the
    returned state computes the same offsets as ``old`` up to ``noise`` (exactly in eval mode with ``noise=0``)."""
    import torch

    gen = torch.Generator().manual_seed(seed)
    out = {}
    copies_in = None  # per input channel of the current layer: (old channel, number of its copies)
    for layer, bn in POINT_LAYERS:
        copies_in = _widen_layer(old, new, layer, bn, copies_in, noise, gen, out)
        if layer == "head.0" and "joint_bias" in old:  # added after head.0, so widened as its outputs are
            out["joint_bias"] = old["joint_bias"][:, copies_in[0]].clone()
    assert copies_in is not None
    out["head.4.weight"] = old["head.4.weight"][:, copies_in[0]] / copies_in[1].to(old["head.4.weight"].dtype)
    out["head.4.bias"] = old["head.4.bias"].clone()
    missing = set(new) - set(out)
    if missing:
        raise RefinetError(f"widening a point-cloud net: no rule for {sorted(missing)}")
    return {k: out[k].to(new[k].dtype).reshape(new[k].shape) for k in new}


def _widen_layer(old: dict, new: dict, layer: str, bn: str, copies_in, noise: float, gen, out: dict):
    """Widen one conv/Linear ``layer`` and the batch norm ``bn`` on its outputs into ``out`` (Net2WiderNet):
    new output channel ``k`` copies old channel ``k mod c`` (its copies beyond the first get ``noise``); the input
    columns are those of ``copies_in`` ``(old channel, number of its copies)`` per input, divided by the number of
    copies (None: the first layer, whose inputs do not change). Returns this layer's ``copies_in`` for the next."""
    import torch

    w_old, c_new = old[f"{layer}.weight"], new[f"{layer}.weight"].shape[0]
    c_old = w_old.shape[0]
    src = torch.arange(c_new) % c_old  # new channel -> the old one it copies
    w = w_old[src]
    if copies_in is not None:
        w = w[:, copies_in[0]] / copies_in[1].to(w.dtype).view(1, -1, *([1] * (w.dim() - 2)))
    if c_new > c_old and noise:
        fresh = w[c_old:]
        w[c_old:] = fresh + noise * w_old.std() * torch.randn(fresh.shape, generator=gen, dtype=w.dtype)
    out[f"{layer}.weight"] = w
    if f"{layer}.bias" in old:
        out[f"{layer}.bias"] = old[f"{layer}.bias"][src].clone()
    for name in ("weight", "bias", "running_mean", "running_var"):
        out[f"{bn}.{name}"] = old[f"{bn}.{name}"][src].clone()
    out[f"{bn}.num_batches_tracked"] = old[f"{bn}.num_batches_tracked"].clone()
    return src, torch.bincount(src, minlength=c_old)[src]
