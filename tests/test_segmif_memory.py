"""SegMiF's memory (issue #14): what a fusion step holds for its backward pass, and the switch that reduces it.

The paper path's fusion step (crop 360 through the fusion net at full crop resolution, then MiT-b3 + head on the fused
image) peaked at 6.4-7.7 GB per process on CPU; the activations the fusion net saves for backward are most of it (~43 KB
per pixel: four dilated residual dense blocks whose concatenations grow to 192 channels, and the token-level HIA at
full resolution). `SegMiFSettings.checkpoint_activations` (`SegMiFFusionNet.checkpoint_activations`) keeps only the
inputs of the DRDBs and injections and recomputes them in the backward pass. Checked here: the gradients are
bit-identical, and the bytes of the tensors autograd saves (counted with `saved_tensors_hooks`, independent of the
allocator) fall by more than half."""
import torch

from fusion_papers import segmif


def _saved_bytes_and_grads(ck: bool, size: int = 48):
    torch.manual_seed(0)
    net = segmif.SegMiFFusionNet("full", with_ffm2=False).train()
    net.checkpoint_activations = ck
    g = torch.Generator().manual_seed(1)
    ir, y = torch.rand(1, 1, size, size, generator=g), torch.rand(1, 1, size, size, generator=g)
    s1, s2 = torch.rand(1, 64, size // 4, size // 4, generator=g), torch.rand(1, 128, size // 8, size // 8, generator=g)
    seen, total = set(), [0]

    def pack(t):
        key = (t.untyped_storage().data_ptr(), t.untyped_storage().nbytes())
        if key not in seen:
            seen.add(key); total[0] += key[1]
        return t
    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        out = net(ir, y, s1, s2)
    (out ** 2).mean().backward()
    return total[0], {n: p.grad.clone() for n, p in net.named_parameters()}


def test_checkpointing_same_gradients_less_saved_memory():
    full, g_full = _saved_bytes_and_grads(False)
    ck, g_ck = _saved_bytes_and_grads(True)
    assert g_full.keys() == g_ck.keys()
    bad = [n for n in g_full if not torch.equal(g_full[n], g_ck[n])]
    assert not bad, f"gradients differ with checkpointing: {bad[:5]}"
    assert ck < 0.5 * full, (ck, full)


def test_checkpointing_off_in_eval_and_not_in_state_dict():
    net = segmif.SegMiFFusionNet("full", with_ffm2=False)
    keys = set(net.state_dict())
    net.checkpoint_activations = True
    assert set(net.state_dict()) == keys          # a plain attribute: the official keys (strict loading) unchanged
    assert segmif.resolve_settings("paper").checkpoint_activations is False
