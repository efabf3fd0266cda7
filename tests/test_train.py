"""Meta-training on CPU with the `tiny` preset: the loss falls, DDP runs, resume continues."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import replace

import av
import cv2
import numpy as np
import pytest
import torch
from conftest import DEMO_CLIP
from safetensors.torch import load_file, save_file

from export.base_model import load_base
from export.train.config import TrainConfig
from export.train.data import SampleSpec, VideoFolder, procedural_sample
from export.train.evaluate import EvalConfig, evaluate
from export.train.losses import Perceptual, region_l1
from export.train.meta import Trainer
from puppet import params as P

TINY = TrainConfig(preset="tiny", batch=2, k_frames=2, w_perceptual=0.0, workers=0, log_every=1000,
                   sample_every=0, checkpoint_every=1000, train_identities=4, lr_g=1e-3)


def test_loss_falls(tmp_path):
    torch.manual_seed(0)
    history = Trainer(replace(TINY, out=str(tmp_path), steps=60)).run()
    first = np.mean([h["l1"] for h in history[:8]])
    last = np.mean([h["l1"] for h in history[-8:]])
    assert last < 0.8 * first, (first, last)
    assert {"l1", "dice", "feat", "params", "adv", "fm", "d"} <= set(history[-1])
    base = load_base(tmp_path / "base.safetensors")
    assert base.preset == "tiny" and base.info["steps"] == 60 and base.discriminator is not None
    render = procedural_sample(3, np.random.default_rng(0), SampleSpec(32, 1, proxy_prob=0.0))["target"]
    read = base.read_expression(render[None])  # the EMA of the read-out ships with the base
    assert read.shape == (1, 15) and np.all((read >= P.LOW) & (read <= P.HIGH))
    from export.cli import main

    packed = tmp_path / "packed.safetensors"
    assert main(["pack-base", str(tmp_path / "base.safetensors"), "-o", str(packed), "--no-discriminator"]) == 0
    shipped = load_base(packed)
    assert shipped.discriminator is None
    assert packed.stat().st_size < 0.5 * (tmp_path / "base.safetensors").stat().st_size  # fp16, no discriminator
    np.testing.assert_allclose(shipped.read_expression(render[None]), read, atol=0.01 * (P.HIGH - P.LOW).max())


def test_eye_and_mouth_regions_weigh_like_the_whole_picture():
    rng = np.random.default_rng(0)
    s = procedural_sample(7, rng, SampleSpec(128, 1, proxy_prob=0.0))
    regions = s["features"]
    assert regions.shape == (1, 128, 128) and 0.02 < regions.mean() < 0.2
    real = torch.from_numpy(s["target"] * s["mask"])[None]
    inside = real.clone()
    inside[:, :, torch.from_numpy(regions[0] > 0)] += 0.5  # wrong only over eyes and mouth
    outside = real.clone()
    outside[:, :, torch.from_numpy(regions[0] == 0)] += 0.5  # wrong everywhere else
    w = torch.from_numpy(regions)[None]
    assert region_l1(inside, real, w).item() == pytest.approx(0.5, abs=1e-5)
    assert region_l1(outside, real, w).item() == 0.0


def test_pose_parameter_loss_ignores_samples_without_parameters_and_weighs_the_mouth():
    from export.train.losses import param_regression

    head = torch.nn.Linear(4, P.NUM_PARAMS)
    code = torch.randn(3, 4)
    known = torch.from_numpy(np.stack([P.make(yaw=20.0), P.neutral()]))
    with_video = torch.cat([known, torch.full((1, P.NUM_PARAMS), float("nan"))])
    loss = param_regression(head(code), with_video)
    assert torch.isclose(loss, param_regression(head(code[:2]), known))  # the video sample counts for nothing
    mouth = torch.tensor([4.0 if n == "mouth_open" else 1.0 for n in P.PARAM_NAMES])
    unit = np.zeros(P.NUM_PARAMS, np.float32)  # every slot mid-range, the mouth wide open
    unit[P.INDEX["mouth_open"]] = 1.0
    pred, truth = torch.zeros(1, P.NUM_PARAMS), torch.from_numpy(P.LOW + (unit + 1) / 2 * (P.HIGH - P.LOW))[None]
    assert param_regression(pred, truth).item() == pytest.approx(1 / 15)  # error 1 on one slot of 15
    assert param_regression(pred, truth, mouth).item() == pytest.approx(4 / 18)  # weighted 4 of 4 + 14
    video_only = param_regression(head(code[2:]), with_video[2:])
    video_only.backward()
    assert float(video_only.detach()) == 0 and head.weight.grad is not None and not head.weight.grad.any()


def test_resume_continues_where_it_stopped(tmp_path):
    cfg = replace(TINY, out=str(tmp_path), steps=4, checkpoint_every=2)
    Trainer(cfg).run()
    saved = load_base(tmp_path / "base.safetensors").model.state_dict()
    resumed = Trainer(replace(cfg, steps=7, resume=True))
    assert resumed.step == 4
    for k, v in resumed.ema.state_dict().items():
        torch.testing.assert_close(v, saved[k])
    assert resumed.opt_g.state_dict()["state"], "optimizer moments restored"
    resumed.run()
    after = load_base(tmp_path / "base.safetensors")
    assert after.info["steps"] == 7
    changed = any(not torch.equal(v, saved[k]) for k, v in after.model.state_dict().items() if v.is_floating_point())
    assert changed


def test_resume_from_a_checkpoint_without_a_newer_part(tmp_path, caplog):
    """A run checkpointed before the pose-parameter read-out existed resumes with a fresh one."""
    cfg = replace(TINY, out=str(tmp_path), steps=2, checkpoint_every=2)
    Trainer(cfg).run()
    ckpt = tmp_path / "checkpoint"
    tensors = load_file(str(ckpt.with_suffix(".safetensors")))
    save_file({k: v for k, v in tensors.items() if not k.startswith(("param_head/", "opt_p/"))},
              str(ckpt.with_suffix(".safetensors")))
    meta = json.loads(ckpt.with_suffix(".json").read_text())
    del meta["opt_p"]
    ckpt.with_suffix(".json").write_text(json.dumps(meta))
    resumed = Trainer(replace(cfg, steps=3, resume=True))
    assert resumed.step == 2
    assert "param_head" in caplog.text and "opt_p" in caplog.text
    # its average starts from the (fresh) read-out itself, not from another random draw
    torch.testing.assert_close(resumed.ema_head.weight, resumed.param_head.weight)
    assert resumed.opt_g.state_dict()["state"], "what the checkpoint holds is still restored"
    resumed.run()


def test_two_process_ddp(tmp_path):
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    run = subprocess.run(
        [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "--master_port", "29517",
         "-m", "export.cli", "train", "--preset", "tiny", "--out", str(tmp_path), "--steps", "3",
         "--batch", "2", "--k-frames", "2", "--w-perceptual", "0", "--workers", "0", "--log-every", "1",
         "--sample-every", "0", "--train-identities", "4"],
        capture_output=True, text=True, env=env, timeout=300)
    assert run.returncode == 0, run.stderr[-2000:]
    assert load_base(tmp_path / "base.safetensors").info["steps"] == 3


def test_video_folder_with_computed_masks(tmp_path):
    person = tmp_path / "speaker"
    person.mkdir()
    with av.open(str(DEMO_CLIP)) as c:
        for i, f in enumerate(c.decode(video=0)):
            if i >= 6:
                break
            crop = f.to_ndarray(format="bgr24")[40:330, 300:590]
            cv2.imwrite(str(person / f"{i:03d}.png"), crop)
    data = VideoFolder(tmp_path, SampleSpec(resolution=32, k_frames=2, proxy_prob=0.0))
    sample = data[3]
    assert sample["identity"].shape == (2, 3, 32, 32) and sample["driver"].shape == (3, 32, 32)
    assert 0.2 < sample["mask"].mean() < 0.95  # the person, not the background
    assert (tmp_path / "speaker.cache32.npz").is_file()


def test_training_on_video_goes_on_past_one_pass(tmp_path):
    """A video is a map-style dataset: training re-reads it, each pass in a new order with new
    samples, for as many steps as asked (here 2 batches a pass, 5 steps)."""
    data = tmp_path / "videos"
    data.mkdir()
    with av.open(str(DEMO_CLIP)) as src, av.open(str(data / "speaker.mp4"), "w") as dst:
        stream = dst.add_stream("libx264", rate=25)
        stream.width = stream.height = 96
        stream.pix_fmt = "yuv420p"
        for i, frame in enumerate(src.decode(video=0)):
            if i >= 5:
                break
            crop = cv2.resize(frame.to_ndarray(format="rgb24")[40:330, 300:590], (96, 96))
            dst.mux(stream.encode(av.VideoFrame.from_ndarray(crop, format="rgb24")))
        dst.mux(stream.encode())
    cfg = replace(TINY, out=str(tmp_path / "run"), data=str(data), samples_per_video=4, steps=5)
    trainer = Trainer(cfg)
    batches = trainer.batches()
    first, second = ([next(batches)["driver"] for _ in range(2)] for _ in range(2))
    assert all(b.shape == (2, 3, 32, 32) for b in first + second)
    assert not any(torch.equal(a, b) for a in first for b in second)  # the second pass draws anew
    history = trainer.run()
    assert len(history) == 5 and "l1" in history[-1]
    assert load_base(tmp_path / "run" / "base.safetensors").info["steps"] == 5
    with pytest.raises(ValueError, match="videos: one pass holds 1 samples"):
        Trainer(replace(cfg, samples_per_video=1)).loader()


def test_perceptual_loss_uses_imagenet_weights(tmp_path):
    loss = Perceptual()
    a = torch.rand(2, 3, 64, 64)
    assert float(loss(a, a)) == 0.0
    assert float(loss(a, torch.rand(2, 3, 64, 64))) > 0.01
    bad = tmp_path / "vgg.pth"
    bad.write_bytes(b"nope")
    with pytest.raises(ValueError, match="vgg.pth"):
        Perceptual(str(bad))


def test_eval_report(tiny_base):
    report = evaluate(load_base(tiny_base, with_discriminator=False), EvalConfig(identities=2, targets=2))
    for name in ("self", "proxy", "static"):
        assert np.isfinite(report[f"{name}_l1"]) and report[f"{name}_psnr"] > 0
    assert {"follows_eyes", "follows_mouth", "follows_yaw"} <= set(report)


def test_character_follow_measure(tiny_bundle, tmp_path):
    from PIL import Image

    from export.train.evaluate import FOLLOW_DRIVERS, character_follow, write_follow_sheet

    sheet = tmp_path / "follow.png"
    write_follow_sheet([tiny_bundle, tiny_bundle], sheet)
    assert Image.open(sheet).size == (32 * len(FOLLOW_DRIVERS), 32 * 3)  # drivers + two characters
    r = character_follow(tiny_bundle)
    keys = ("eyes_change", "mouth_change", "yaw_shift_px", "pitch_shift_px", "roll_deg")
    assert all(np.isfinite(r[k]) for k in keys)
    assert r["eyes_change"] >= 0 and r["mouth_change"] >= 0


def test_follow_measure_reads_true_head_motion():
    """On the true renders of identities never trained on (a perfect follower) the measure sees
    the eyes shut, the mouth open, the features move right as the head turns, up as the chin
    lifts, and turn by the 50 degrees between roll -25 and +25; a picture that never moves reads 0."""
    from export.train.data import HELD_OUT_SEEDS
    from export.train.evaluate import FOLLOW_DRIVERS, motion, reference_follow

    for seed in (HELD_OUT_SEEDS + 4, HELD_OUT_SEEDS + 13):
        r = reference_follow(seed, 128)
        assert r["eyes_change"] > 0.02 and r["mouth_change"] > 0.02, r
        assert r["yaw_shift_px"] > 5 and r["pitch_shift_px"] < -1, r
        assert abs(r["roll_deg"] - 50) <= 3, r
    frozen = motion(dict.fromkeys(FOLLOW_DRIVERS, _rest_picture(HELD_OUT_SEEDS + 4)), 128)
    assert all(v == 0 for v in frozen.values()), frozen


def test_follow_shifts_do_not_depend_on_the_picture_side():
    """Characters draw at 256 or 512 px and the truth is rendered at 128: shifts are given in
    pixels of a 128 px picture, so the same head reads the same turn and nod at any side."""
    from export.train.data import HELD_OUT_SEEDS
    from export.train.evaluate import reference_follow

    small, large = reference_follow(HELD_OUT_SEEDS + 4, 128), reference_follow(HELD_OUT_SEEDS + 4, 256)
    for key in ("yaw_shift_px", "pitch_shift_px"):
        assert abs(large[key] - small[key]) < 0.1 * abs(small[key]) + 0.3, (key, small[key], large[key])


def _rest_picture(seed: int) -> np.ndarray:
    from export.train.renders import to_chw
    from puppet import params as P
    from puppet.heads import Identity, render_head

    r = render_head(Identity.from_seed(seed), P.neutral(), 128)
    return to_chw(r.rgb) * r.mask[None]


def test_eval_command_reports_the_sheet_and_the_frames_of_one_base(tiny_base, capsys):
    from export.cli import main as export_main

    assert export_main(["eval", "--base", str(tiny_base), "--identities", "1", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["base"] == str(tiny_base)
    assert report["sheet"]["identities"] == 1 and np.isfinite(report["sheet"]["model_l1"])
    assert report["frames"]["identities"] == 1 and np.isfinite(report["frames"]["proxy_l1"])
    assert export_main(["eval", "--base", str(tiny_base), "--identities", "1"]) == 0
    text = capsys.readouterr().out
    assert text.startswith(str(tiny_base)) and "masked L1" in text and "proxy" in text
    assert export_main(["eval", "--base", str(tiny_base), "--identities", "1", "--sources", "1", "--json"]) == 0
    one = json.loads(capsys.readouterr().out)["sheet"]
    assert one["sources"] == 1 and one["nearest_l1"] == one["static_l1"]


def test_warp_training_reads_the_references_as_a_frozen_character_does(tmp_path):
    from export.train.data import collate
    from export.train.renders import proxy_render

    spec, rng = SampleSpec(32, 3, proxy_prob=1.0, sheet=True), np.random.default_rng(0)
    samples = [procedural_sample(seed, rng, spec) for seed in (5, 6)]
    for params, driver in zip(samples[0]["reference_params"], samples[0]["reference_drivers"]):
        np.testing.assert_array_equal(driver, proxy_render(params, 32, 0))  # the proxy showing each reference
    torch.manual_seed(0)
    trainer = Trainer(replace(TINY, preset="tiny-warp", k_frames=3, out=str(tmp_path), steps=3))
    assert all(np.isfinite(h["l1"]) for h in trainer.run())
    b = collate(samples)
    model = trainer.model.train()
    with torch.no_grad():
        identity, pose = model.identity(b["identity"]), model.pose(b["driver"])
        read = model.reenact(identity, pose, b["references"], b["reference_params"],
                             model.read_references(b["reference_drivers"]))
        given = model.reenact(identity, pose, b["references"], b["reference_params"])
    assert model.pose_encoder.training  # reading the references left the encoder training
    assert float((read.rgb - given.rgb).abs().max()) > 1e-4  # the read references place and choose


def test_warp_training_turns_each_head_on_an_ellipsoid_of_its_own_size():
    """As a frozen character turns with the size read from its identity, meta-training turns each
    sample with its head's true size."""
    from export.models import create_model
    from export.models.head_motion import head_motion_grid, identity_grid
    from export.train.data import collate
    from puppet.heads import Identity

    spec, rng = SampleSpec(32, 3, proxy_prob=1.0, sheet=True), np.random.default_rng(0)
    seeds = (5, 6)
    b = collate([procedural_sample(seed, rng, spec) for seed in seeds])
    sizes = [Identity.from_seed(seed).head_size for seed in seeds]
    np.testing.assert_allclose(b["head_size"].numpy(), sizes, rtol=1e-6)
    turned = torch.from_numpy(np.stack([P.make(yaw=25)] * 2))
    grid = head_motion_grid(identity_grid(32)[None].expand(2, -1, -1, -1), turned, b["reference_params"],
                            b["head_size"][:, None, None, None])
    for i, size in enumerate(sizes):  # per sample, as if each were alone
        alone = head_motion_grid(identity_grid(32)[None], turned[i:i + 1], b["reference_params"][i:i + 1], size)
        torch.testing.assert_close(grid[i], alone[0])
    torch.manual_seed(0)
    model = create_model("tiny-warp").train()
    with torch.no_grad():
        identity, pose = model.identity(b["identity"]), model.pose(b["driver"])
        own = model.reenact(identity, pose, b["references"], b["reference_params"], head_size=b["head_size"])
        proxys = model.reenact(identity, pose, b["references"], b["reference_params"])
    assert float((own.rgb - proxys.rgb).abs().max()) > 1e-4


def test_a_single_reference_sheet_is_one_rest_drawing_k_times():
    spec = SampleSpec(32, 3, proxy_prob=1.0, sheet=True, single_reference=1.0)
    s = procedural_sample(5, np.random.default_rng(0), spec)
    assert (s["reference_params"] == s["reference_params"][:1]).all()
    np.testing.assert_array_equal(s["reference_params"][0, P.FACE_INDEX], P.neutral()[P.FACE_INDEX])
    assert (s["references"] == s["references"][:1]).all() and (s["identity"] == s["identity"][:1]).all()
    mixed = [procedural_sample(5, np.random.default_rng(i), replace(spec, single_reference=0.0)) for i in range(4)]
    assert any((m["reference_params"] != m["reference_params"][:1]).any() for m in mixed)


def test_pack_base_averages_checkpoints_of_one_run(tmp_path, capsys):
    from export.base_model import BaseModel, save_base
    from export.cli import main
    from export.models import LatentPoseModel, get_config

    paths = []
    for seed in (0, 1):
        torch.manual_seed(seed)
        cfg = get_config("tiny-warp")
        base = BaseModel(LatentPoseModel(cfg), preset="tiny-warp", info={"steps": 10 * (seed + 1)},
                         readout=torch.nn.Linear(cfg.pose_dim, P.NUM_PARAMS),
                         head_sizer=torch.nn.Linear(cfg.identity_dim, 1))
        paths.append(save_base(base, tmp_path / f"base_{seed}.safetensors"))
    packed = tmp_path / "mean.safetensors"
    assert main(["pack-base", *map(str, paths), "-o", str(packed), "--fp32"]) == 0
    a, b, mean = (load_file(str(p)) for p in (*paths, packed))
    floats = [k for k in mean if mean[k].is_floating_point()]
    assert floats and any(not torch.equal(a[k], b[k]) for k in floats)
    assert {"readout.weight", "head_sizer.weight"} <= set(floats)
    for k in floats:
        torch.testing.assert_close(mean[k], (a[k] + b[k]) / 2)
    assert load_base(packed).info["averaged"] == [10, 20]

    other = tmp_path / "other.safetensors"
    save_base(BaseModel(LatentPoseModel(get_config("tiny")), preset="tiny"), other)
    assert main(["pack-base", str(paths[0]), str(other), "-o", str(tmp_path / "x.safetensors")]) == 1
    assert "base_0.safetensors: not the architecture of" in capsys.readouterr().err
    assert not (tmp_path / "x.safetensors").exists()


def test_clip_grad_bounds_the_generator_step_and_logs_the_norm_before(tmp_path):
    trainer = Trainer(replace(TINY, out=str(tmp_path), steps=2, clip_grad=0.5))
    logged = trainer.train_step(next(trainer.batches()))
    grads = [p.grad for p in trainer.model.parameters() if p.grad is not None]
    assert logged["gnorm"] > 0.5  # a tiny model's first step: far above the bound
    assert float(torch.linalg.vector_norm(torch.stack([torch.linalg.vector_norm(g) for g in grads]))) <= 0.5 + 1e-4


def test_fit_head_size_gives_a_base_a_head_size_read_out(tmp_path, capsys):
    """The command's path on a tiny base (what the read-out learns is checked on the shipped base,
    in test_assets): a base without one reads every head at the proxy's size, a base with one
    stays within the sizes procedural heads have."""
    from conftest import make_tiny_base

    from export.cli import main
    from puppet.heads import HEAD_SIZES

    plain = load_base(make_tiny_base(tmp_path / "tiny.safetensors", "proxy", preset="tiny-warp"))
    code = torch.randn(1, plain.cfg.identity_dim)
    assert plain.head_sizer is None and plain.head_size_of(code) == 1.0
    fitted = tmp_path / "fitted.safetensors"
    assert main(["fit-head-size", str(tmp_path / "tiny.safetensors"), "-o", str(fitted), "--identities", "6"]) == 0
    assert "fitted on 12 procedural identities" in capsys.readouterr().out
    base = load_base(fitted)
    assert base.head_sizer is not None and base.info["head_sizer"]["identities"] == 12
    for scale in (0.0, 1e3, -1e3):  # wild codes are held to the range
        assert HEAD_SIZES[0] <= base.head_size_of(scale * code) <= HEAD_SIZES[1]
