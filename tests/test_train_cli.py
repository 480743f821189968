"""``osim train sft``: flags map to the config dataclass, mistakes are one line (exit 2) before any model
loads, checkpoints resume, LoRA adapters train and save, the replay store feeds SFT."""

from __future__ import annotations

import argparse
import json
import re
from pathlib import Path

import pytest

from learners.sft import SFTRecipeConfig
from osim.cli import main
from osim.train_cli import add_config_flags, config_from_args

ROW = {
    "data_source": "chats",
    "messages": [
        {"role": "system", "content": "You are Sam."},
        {"role": "user", "content": "hi, can you help?"},
        {"role": "assistant", "content": "Sure, what is it?"},
    ],
}


@pytest.fixture()
def corpus(tmp_path: Path) -> Path:
    path = tmp_path / "chats.jsonl"
    path.write_text("".join(json.dumps(ROW) + "\n" for _ in range(8)))
    return path


def run(capsys: pytest.CaptureFixture, *argv: str) -> tuple[int, str, str]:
    code = main(["train", *argv])
    out = capsys.readouterr()
    return code, out.out, out.err


def test_flags_map_to_the_config_dataclass():
    parser = argparse.ArgumentParser()
    add_config_flags(parser, SFTRecipeConfig)
    args = parser.parse_args(
        ["--data", "a.jsonl:2", "--data", "b/*.parquet:1", "--source-mode", "x=swap", "--max-steps", "7",
         "--lora", "--no-progress", "--min-score", "0.5"]
    )  # fmt: skip
    config = config_from_args(SFTRecipeConfig, args)
    assert config.data == ["a.jsonl:2", "b/*.parquet:1"] and config.source_mode == ["x=swap"]
    assert config.max_steps == 7 and config.lora is True and config.progress is False
    assert config.min_score == 0.5 and config.learning_rate == SFTRecipeConfig().learning_rate


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["sft"], "no training data"),
        (["sft", "--data", "missing.jsonl"], "no corpus file matches 'missing.jsonl'"),
        (["sft", "--data", "{corpus}:2"], "needs --max-steps"),
        (["sft", "--data", "{corpus}", "--source-mode", "chats"], "DATA_SOURCE=MODE"),
        (["sft", "--data", "{corpus}", "--default-mode", "mirror"], "unknown mode 'mirror'"),
        (["sft", "--data", "{corpus}", "--model", "no/such/dir"], "--model"),
        (["sft", "--data", "{corpus}", "--eval", "soul/hitom-v9"], "unknown env id 'soul/hitom-v9'"),
        (["sft", "--from-store", "nowhere.duckdb"], "no replay store at nowhere.duckdb"),
        (["distill", "--mode", "forward", "--env", "soul/hitom-v0"], "--teacher SPEC is required"),
        (["distill", "--mode", "forward", "--teacher", "tiny", "--prompts", "3"], "--prompts does not apply"),
        (["distill", "--mode", "on-policy", "--teacher", "tiny"], "give at least one --env"),
        (["distill", "--mode", "forward", "--teacher", "bogus:x", "--env", "soul/hitom-v0"], "--teacher"),
    ],
)
def test_mistakes_are_one_line_and_exit_2(capsys, corpus, argv, message):
    code, out, err = run(capsys, *[a.replace("{corpus}", str(corpus)) for a in argv])
    assert code == 2 and out == ""
    assert err.startswith("osim: error: ") and message in err and err.count("\n") == 1, err


def test_a_malformed_row_is_an_error_with_file_row_field_or_skipped(capsys, tmp_path, corpus, tiny_model_dir):
    corpus.write_text(corpus.read_text() + json.dumps({"data_source": "chats", "messages": "[]"}) + "\n")
    common = ["--model", str(tiny_model_dir), "--output-dir", str(tmp_path / "o"), "--max-steps", "1"]
    code, _, err = run(capsys, "sft", "--data", str(corpus), *common, "--no-progress")
    assert code == 2 and f"{corpus}, row 9, field 'messages'" in err
    code, out, _ = run(capsys, "sft", "--data", str(corpus), *common, "--no-progress", "--on-invalid", "skip")
    summary = json.loads(out)
    assert code == 0 and summary["data"]["skipped"] == 1 and summary["data"]["rows_by_source"] == {"chats": 8}


def test_checkpoints_resume_and_lora_adapters_load_as_policies(capsys, tmp_path, corpus, tiny_model_dir):
    out_dir = tmp_path / "lora"
    common = [
        "sft", "--data", str(corpus), "--model", str(tiny_model_dir), "--output-dir", str(out_dir),
        "--per-device-train-batch-size", "4", "--save-steps", "2", "--logging-steps", "1",
        "--lora", "--lora-r", "4", "--learning-rate", "1e-2", "--merge-lora", "--no-progress",
    ]  # fmt: skip
    code, out, _ = run(capsys, *common, "--max-steps", "4")
    first = json.loads(out)
    assert code == 0 and first["steps"] == 4 and first["resumed_from"] is None
    assert (out_dir / "checkpoint-4").is_dir() and (out_dir / "adapter_config.json").is_file()
    assert first["merged"] == str(out_dir / "merged") and first["tokens_per_s"] > 0
    code, out, _ = run(capsys, *common, "--max-steps", "6", "--resume")
    second = json.loads(out)
    assert code == 0 and second["resumed_from"].endswith("checkpoint-4") and second["steps"] == 6
    assert json.loads((out_dir / "train_summary.json").read_text())["steps"] == 6

    from policies import parse_spec
    from policies.base import ChatRequest

    request = ChatRequest(messages=[{"role": "user", "content": "hi, can you help?"}])
    adapter, merged, base = (
        parse_spec(f"hf:{p}?max_new_tokens=8") for p in (out_dir, out_dir / "merged", tiny_model_dir)
    )
    assert adapter.spec.model == str(out_dir)
    texts = [p.complete(request).text for p in (adapter, merged, base)]
    assert texts[0] == texts[1]  # the adapter on its base is the merged model
    assert _logits(adapter, request) == pytest.approx(_logits(merged, request), abs=1e-4)
    assert _logits(adapter, request) != pytest.approx(_logits(base, request), abs=1e-3)


def _logits(policy, request) -> list[float]:
    import torch

    ids = policy.tokenizer(policy.render_prompts([request])[0], return_tensors="pt")["input_ids"]
    with torch.no_grad():
        return policy.model(ids).logits[0, -1, :8].tolist()


def test_sft_from_the_replay_store_learns_the_stored_actions(capsys, tmp_path, tiny_model_dir):
    from osim.runner import run_sweep

    (tmp_path / "script.txt").write_text("<answer>A</answer>\n")
    store = tmp_path / "runs.duckdb"
    sweep = run_sweep(
        "soul/hitom-v0", policy=f"scripted:{tmp_path / 'script.txt'}", episodes=5, scenarios=list(range(5)),
        store=store, progress=False,
    )  # fmt: skip
    code, out, _ = run(
        capsys, "sft", "--from-store", str(store), "--run", sweep.run_id, "--min-score", "1",
        "--model", str(tiny_model_dir), "--output-dir", str(tmp_path / "o"), "--max-steps", "2",
        "--no-progress",
    )  # fmt: skip
    summary = json.loads(out)
    assert code == 0 and summary["steps"] == 2
    # only fixture row 0 has the answer A: one episode scores 1 and is the whole training set
    assert _scored_one(store, sweep.run_id) == 1 and summary["data"]["rows_by_source"] == {"soul/hitom-v0": 1}
    code, _, err = run(capsys, "sft", "--from-store", str(store), "--run", "nope", "--no-progress")
    assert code == 2 and "no run 'nope'" in err


def _scored_one(store: Path, run_id: str) -> int:
    from replays import ReplayStore

    with ReplayStore(store, read_only=True) as s:
        return int((s.scores(run_id=run_id)["score"] == 1.0).sum())


def test_the_progress_bar_shows_loss_and_tokens_per_second(capsys, tmp_path, corpus, tiny_model_dir):
    code, out, err = run(
        capsys, "sft", "--data", str(corpus), "--model", str(tiny_model_dir),
        "--output-dir", str(tmp_path / "o"), "--max-steps", "3", "--logging-steps", "1",
        "--per-device-train-batch-size", "2",
    )  # fmt: skip
    assert code == 0 and json.loads(out)["steps"] == 3  # stdout holds the JSON summary only
    assert "3/3" in err and re.search(r"loss \d+\.\d{4}\s+[\d,]+ tok/s", err), err


def test_without_a_gpu_trl_gets_cpu_settings():
    from learners.common import TrainConfig, has_gpu, trainer_arguments

    arguments = trainer_arguments(TrainConfig())
    assert arguments["report_to"] == "none"
    if not has_gpu():
        assert arguments["bf16"] is False and arguments["use_cpu"] is True
    else:
        assert arguments["use_cpu"] is False
