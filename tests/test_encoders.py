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
    assert {"logmel-cnn", "ast", "pretrained-ast", "pretrained-mert", "pretrained-clap"} <= set(
        encoder_names()
    )
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


def build_tiny_dataset(out, executor, *, seed: int, n: int = 12):
    """``n`` LHS items rendered with the short probe (a few seconds); also used by test_tracking."""
    build_dataset(
        out,
        n=n,
        shard_size=6,
        executor=executor,
        sampler="lhs",
        sampler_config={"p_train_table": 0.0, "block_size": 64},
        probe=SHORT_PROBE,
        probe_sampler="range",
        seed=seed,
    )
    return out


def test_debug_ast_trains_and_exports(tmp_path, render_pool):
    from synthmatch.train.estimator import train_estimator

    ds = build_tiny_dataset(tmp_path / "ds", render_pool.executor, seed=5)
    cfg = AST.replace(data=AST.data.replace(val_fraction=0.25, n_items=12))
    result = train_estimator(
        config=cfg, dataset=ds, out=tmp_path / "run", epochs=2, threads=1, tracking="none"
    )
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


# ---------------------------------------------------------------------------------------
# adapters of pretrained transformers encoders, on tiny random models saved to disk
# ---------------------------------------------------------------------------------------
def _save_tiny(kind: str, root):
    """A tiny randomly initialised model of ``kind`` saved with save_pretrained; returns its folder."""
    tf = pytest.importorskip(
        "transformers", reason="the pretrained adapters need the 'pretrained' extra (transformers)"
    )
    torch.manual_seed(0)
    if kind == "ast":
        model = tf.ASTModel(
            tf.ASTConfig(
                hidden_size=32,
                num_hidden_layers=1,
                num_attention_heads=2,
                intermediate_size=64,
                num_mel_bins=32,
                max_length=64,
            )
        )
    elif kind in ("clap", "clap-full"):
        audio = {
            "spec_size": 64,
            "num_mel_bins": 16,
            "window_size": 4,
            "patch_embeds_hidden_size": 16,
            "depths": [1, 1],
            "num_attention_heads": [2, 2],
            "hidden_size": 32,
            "projection_dim": 16,
        }
        if kind == "clap":
            model = tf.ClapAudioModel(tf.ClapAudioConfig(**audio))
        else:
            text = {
                "vocab_size": 64,
                "hidden_size": 16,
                "num_hidden_layers": 1,
                "num_attention_heads": 2,
                "intermediate_size": 32,
                "projection_dim": 16,
            }
            model = tf.ClapModel(tf.ClapConfig(text_config=text, audio_config=audio, projection_dim=16))
    else:
        small = {
            "hidden_size": 32,
            "num_hidden_layers": 1,
            "num_attention_heads": 2,
            "intermediate_size": 64,
            "conv_dim": (24,),
            "conv_stride": (5,),
            "conv_kernel": (10,),
            "num_conv_pos_embeddings": 16,
            "num_conv_pos_embedding_groups": 2,
        }
        model = (
            tf.HubertModel(tf.HubertConfig(**small))
            if kind == "hubert"
            else tf.Wav2Vec2Model(tf.Wav2Vec2Config(**small))
        )
    out = root / kind
    model.save_pretrained(out)
    return out


@pytest.fixture(scope="module")
def tiny_models(tmp_path_factory):
    root = tmp_path_factory.mktemp("pretrained")
    return {k: _save_tiny(k, root) for k in ("ast", "clap", "clap-full", "hubert", "wav2vec2")}


ADAPTERS = [
    ("pretrained-ast", "ast", 32),
    ("pretrained-clap", "clap", 32),
    ("pretrained-clap", "clap-full", 32),
    ("pretrained-mert", "hubert", 32),
    ("pretrained-mert", "wav2vec2", 32),
]


@pytest.mark.parametrize(("name", "kind", "hidden"), ADAPTERS)
def test_adapters_load_local_weights_and_embed_any_length(tiny_models, name, kind, hidden):
    enc = build_encoder(name, {"path": str(tiny_models[kind]), "embedding_dim": 24}, n_mels=64)
    assert enc.embedding_dim == 24 and enc.min_frames == 1
    assert enc.out[0].in_features == hidden + 3
    enc.train()
    assert not enc.backbone.training and all(not p.requires_grad for p in enc.backbone.parameters())
    # shorter and longer than the model's own input (AST 64 frames, CLAP 256)
    for frames in (44, 345):
        emb = enc(_mel(2, frames), torch.rand(2, 3))
        assert emb.shape == (2, 24) and torch.isfinite(emb).all()
    emb.sum().backward()  # frozen: the input map and the projection train, the pretrained weights do not
    assert enc.out[0].weight.grad is not None
    assert all(p.grad is None for p in enc.backbone.parameters())
    trainable = build_encoder(name, {"path": str(tiny_models[kind]), "freeze": False}, n_mels=64).train()
    assert trainable.backbone.training and all(p.requires_grad for p in trainable.backbone.parameters())


@pytest.mark.parametrize(
    ("name", "kind", "cls", "attr"),
    [
        ("pretrained-ast", "ast", "ASTModel", None),
        ("pretrained-clap", "clap", "ClapAudioModel", None),
        ("pretrained-clap", "clap-full", "ClapModel", "audio_model"),
        ("pretrained-mert", "hubert", "HubertModel", None),
    ],
)
def test_adapters_hold_the_saved_weights(tiny_models, name, kind, cls, attr):
    tf = pytest.importorskip("transformers", reason="needs transformers")
    enc = build_encoder(name, {"path": str(tiny_models[kind])}, n_mels=64)
    saved = getattr(tf, cls).from_pretrained(str(tiny_models[kind]), local_files_only=True)
    saved = getattr(saved, attr) if attr else saved
    got = enc.backbone.state_dict()
    assert set(got) == set(saved.state_dict())
    for k, v in saved.state_dict().items():
        torch.testing.assert_close(got[k], v, msg=k)


def test_an_estimator_builds_on_a_pretrained_adapter(tiny_models):
    cfg = AST.replace(
        model=AST.model.replace(
            encoder="pretrained-mert",
            encoder_options={"path": str(tiny_models["hubert"]), "embedding_dim": 16},
        )
    )
    model = build_model(cfg, _layout(), n_mels=64).eval()
    with torch.no_grad():
        out = as_dict(model(_mel(2, 44), torch.rand(2, 3)))
    assert out["embedding"].shape == (2, 16) and list(out) == list(OUTPUT_NAMES)


def test_adapters_refuse_missing_or_wrong_weights_and_download_nothing(tiny_models, tmp_path):
    with pytest.raises(ParameterError, match=r"needs model.encoder_options.path.*save_pretrained"):
        build_encoder("pretrained-ast", {}, n_mels=64)
    with pytest.raises(ParameterError, match=r"nowhere does not exist.*downloads nothing"):
        build_encoder("pretrained-clap", {"path": str(tmp_path / "nowhere")}, n_mels=64)
    (tmp_path / "empty").mkdir()
    with pytest.raises(ParameterError, match=r"no config\.json"):
        build_encoder("pretrained-mert", {"path": str(tmp_path / "empty")}, n_mels=64)
    (tmp_path / "empty" / "config.json").write_text('{"model_type": "hubert"}')
    with pytest.raises(ParameterError, match="no weights"):
        build_encoder("pretrained-mert", {"path": str(tmp_path / "empty")}, n_mels=64)
    with pytest.raises(ParameterError, match=r"audio-spectrogram-transformer.*pretrained-\*"):
        build_encoder("pretrained-clap", {"path": str(tiny_models["ast"])}, n_mels=64)
    # a folder whose weights do not fit the model is refused, not left randomly initialised
    half = tmp_path / "half"
    half.mkdir()
    (half / "config.json").write_text((tiny_models["hubert"] / "config.json").read_text())
    from safetensors.torch import load_file, save_file

    weights = load_file(tiny_models["hubert"] / "model.safetensors")
    save_file({k: v for k, v in weights.items() if "encoder.layers" not in k}, half / "model.safetensors")
    with pytest.raises(ParameterError, match=r"lacks .* weights"):
        build_encoder("pretrained-mert", {"path": str(half)}, n_mels=64)
    # a model id is not a folder here: it is refused, not fetched from the hub
    with pytest.raises(ParameterError, match="does not exist"):
        build_encoder("pretrained-ast", {"path": "MIT/ast-finetuned-audioset-10-10-0.4593"}, n_mels=64)


def test_adapters_without_transformers_name_the_extra(tmp_path, monkeypatch):
    import sys

    from synthmatch.errors import MissingExtraError

    folder = tmp_path / "ast"
    folder.mkdir()
    (folder / "config.json").write_text('{"model_type": "audio-spectrogram-transformer"}')
    (folder / "model.safetensors").write_bytes(b"")
    monkeypatch.setitem(sys.modules, "transformers", None)  # import transformers raises ImportError
    with pytest.raises(MissingExtraError, match=r"synthmatch\[pretrained\]"):
        build_encoder("pretrained-ast", {"path": str(folder)}, n_mels=64)
