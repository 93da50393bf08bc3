"""Encoders of the estimator: the ``ast`` spectrogram transformer (shapes, any length, ONNX, training)
and the adapters of pretrained ``transformers`` encoders on tiny random configs saved to disk."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from synthmatch.models.configs import EstimatorConfig, get_config
from synthmatch.models.layout import OUTPUT_NAMES, EstimatorLayout
from tests.conftest import SHORT_PROBE

torch = pytest.importorskip("torch", reason="the estimator's encoders need the 'train' extra (torch)")

from synthmatch.data import build_dataset  # noqa: E402
from synthmatch.errors import ParameterError  # noqa: E402
from synthmatch.models.builders import build_encoder, build_model  # noqa: E402
from synthmatch.models.encoders import encoder_class, encoder_names  # noqa: E402
from synthmatch.models.export import export_onnx  # noqa: E402
from synthmatch.models.network import as_dict  # noqa: E402
from synthmatch.vital.spec import default_space  # noqa: E402

AST = get_config("debug-ast")
AST_OPTIONS = AST.model.encoder_options


def _layout() -> EstimatorLayout:
    return EstimatorLayout.from_space(default_space(), [f"key{i}" for i in range(5)])


def _mel(batch: int, frames: int, seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.rand((batch, 64, frames), generator=g) * 86.0 - 80.0


# ---------------------------------------------------------------------------------------
# ast: an AST-style spectrogram transformer
# ---------------------------------------------------------------------------------------
def test_ast_is_registered_and_named_by_a_config():
    assert {"logmel-cnn", "ast"} <= set(encoder_names())
    assert AST.model.encoder == "ast" and AST.name == "debug-ast"
    assert EstimatorConfig.from_dict(json.loads(json.dumps(AST.to_dict()))) == AST
    # debug-ast is debug with another encoder: same heads, training and data
    debug = get_config("debug")
    assert AST.replace(name="debug", model=AST.model.replace(encoder="logmel-cnn", encoder_options={})) == (
        debug.replace(model=debug.model.replace(encoder_options={}))
    )


@pytest.mark.parametrize("frames", [16, 44, 345, 16 * 32 + 100])
def test_ast_embeds_any_length_and_batches_like_single_items(frames):
    enc = build_encoder("ast", AST_OPTIONS, n_mels=64).eval()
    assert enc.min_frames == 16 and enc.embedding_dim == 32
    mel, probe = _mel(3, frames), torch.rand(3, 3)
    with torch.no_grad():
        emb = enc(mel, probe)
        one = enc(mel[1:2], probe[1:2])
    assert emb.shape == (3, 32) and torch.isfinite(emb).all()
    torch.testing.assert_close(one[0], emb[1], atol=1e-5, rtol=0)


def test_ast_is_conditioned_on_the_probe_and_sees_time_order():
    enc = build_encoder("ast", AST_OPTIONS, n_mels=64).eval()
    mel = _mel(1, 64)
    with torch.no_grad():
        a = enc(mel, torch.tensor([[0.5, 0.8, 0.25]]))
        b = enc(mel, torch.tensor([[0.2, 0.8, 0.25]]))
        c = enc(mel.flip(-1), torch.tensor([[0.5, 0.8, 0.25]]))
    assert not torch.allclose(a, b) and not torch.allclose(a, c)


def test_ast_refuses_options_that_cannot_work():
    with pytest.raises(ParameterError, match="multiple of heads"):
        build_encoder("ast", {**AST_OPTIONS, "heads": 3}, n_mels=64)
    with pytest.raises(ParameterError, match="patch_mels <= 64"):
        build_encoder("ast", {**AST_OPTIONS, "patch_mels": 80}, n_mels=64)
    with pytest.raises(ParameterError, match="unknown"):
        build_encoder("ast", {"channels": (8, 16)}, n_mels=64)


def test_ast_estimator_exports_to_onnx_with_a_dynamic_time_axis(tmp_path):
    ort = pytest.importorskip("onnxruntime", reason="onnxruntime runs the exported model")
    pytest.importorskip("onnx", reason="torch's ONNX exporter writes through onnx (the 'dev' extra)")
    model = build_model(AST, _layout(), n_mels=64).eval()
    path, opset = export_onnx(model, tmp_path / "ast.onnx", n_mels=64, frames=44)
    assert opset == 17
    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    assert [o.name for o in sess.get_outputs()] == list(OUTPUT_NAMES)
    # the traced length (44), the minimum, the dataset's length and past the position table (512 frames)
    for batch, frames in ((2, 44), (1, 16), (3, 345), (1, 600)):
        mel, probe = _mel(batch, frames, seed=frames), torch.rand(batch, 3)
        got = sess.run(None, {"mel": mel.numpy(), "probe": probe.numpy()})
        with torch.no_grad():
            ref = as_dict(model(mel, probe))
        for name, a in zip(OUTPUT_NAMES, got):
            np.testing.assert_allclose(a, ref[name].numpy(), atol=1e-4, rtol=0, err_msg=f"{name} T={frames}")


def test_debug_ast_trains_and_exports(tmp_path, render_pool):
    from synthmatch.train.estimator import train_estimator

    ds = tmp_path / "ds"
    build_dataset(
        ds,
        n=12,
        shard_size=6,
        executor=render_pool.executor,
        sampler="lhs",
        sampler_config={"p_train_table": 0.0, "block_size": 64},
        probe=SHORT_PROBE,
        probe_sampler="range",
        seed=5,
    )
    cfg = AST.replace(data=AST.data.replace(val_fraction=0.25, n_items=12))
    result = train_estimator(config=cfg, dataset=ds, out=tmp_path / "run", epochs=2, threads=1)
    h = result.history
    assert [r["epoch"] for r in h] == [1, 2]
    assert all(math.isfinite(r["train"]["loss"]) and math.isfinite(r["val"]["loss"]) for r in h)
    assert result.card["config"]["model"]["encoder"] == "ast"
    assert result.card["onnx"]["min_frames"] == 16
    assert (
        result.card["onnx"]["max_abs_diff_vs_torch"] is None
        or result.card["onnx"]["max_abs_diff_vs_torch"] < 1e-4
    )
    assert encoder_class("ast").__name__ == "SpectrogramTransformer"
