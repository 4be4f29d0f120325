"""Job files: good ones load, every kind of bad field is refused with its YAML path and what was expected."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from tests.conftest import DIGITS_MLP, JOBS
from trainworks.spec import SpecError, load_spec, spec_to_yaml, validate_spec
from trainworks.spec.overrides import apply_override, parse_override_path
from trainworks.spec.schema import JobSpec


def write(tmp_path: Path, raw: object, name: str = "job.yaml") -> Path:
    path = tmp_path / name
    path.write_text(raw if isinstance(raw, str) else yaml.safe_dump(raw), encoding="utf-8")
    return path


def issues_of(tmp_path: Path, raw: object, overrides: tuple[str, ...] = ()) -> list[str]:
    with pytest.raises(SpecError) as caught:
        load_spec(write(tmp_path, raw), overrides)
    return [issue.render() for issue in caught.value.issues]


@pytest.mark.parametrize("job", sorted(JOBS.glob("*.yaml")), ids=lambda p: p.name)
def test_every_shipped_job_loads(job: Path) -> None:
    spec = load_spec(job)
    assert spec.training.epochs > 0


def test_defaults_fill_in_and_shorthand_names_expand() -> None:
    spec = validate_spec({"data": {"dataset": "digits"}, "model": "mlp", "training": {"epochs": 1}})
    assert spec.model.name == "mlp" and spec.model.hidden == [128]
    assert spec.optimizer.name == "adam" and spec.loss.name == "cross_entropy"
    assert spec.scaling.num_workers == 1


BAD_FIELDS = [
    ({"model": {"name": "cnnn"}}, "model.name: unknown model 'cnnn'", "guide_cnn, lstm, mlp"),
    ({"model": {"name": "mlp", "hiden": [3]}}, "model.hiden: unknown key 'hiden'", "did you mean 'hidden'"),
    ({"model": {"hidden": [64]}}, "model.name: missing 'name'", "expected one of: autoencoder, dcgan"),
    ({"training": {"epochs": 0}}, "training.epochs: expected a value greater than 0", "got 0"),
    ({"training": {"epochs": "three"}}, "training.epochs: expected a valid integer", "got 'three'"),
    ({"training": {"epochs": 2, "batch_size": -4}}, "training.batch_size: expected a value greater than 0", "got -4"),
    ({"training": {"epochs": 2, "precision": "fp8"}}, "training.precision: expected 'fp32', 'bf16' or 'fp16'",
     "got 'fp8'"),
    ({"training": {"epochs": 2, "precison": "bf16"}}, "training.precison: unknown key", "did you mean 'precision'"),
    ({"optimizer": {"name": "adam", "lr": float("nan")}}, "optimizer.lr: expected a finite number", "nan"),
    ({"optimizer": {"name": "adam", "lr": float("inf")}}, "optimizer.lr: expected a finite number", "inf"),
    ({"optimizer": {"name": "sgd", "lr": 0}}, "optimizer.lr: expected a value greater than 0", "got 0"),
    ({"optimizer": {"name": "adamm"}}, "optimizer.name: unknown optimizer 'adamm'", "did you mean 'adam'"),
    ({"schedule": "cosin"}, "schedule.name: unknown schedule 'cosin'", "did you mean 'cosine'"),
    ({"loss": {"name": "cross_entropy", "label_smoothing": 1.5}}, "loss.label_smoothing: expected a value less than 1",
     "1.5"),
    ({"data": {"dataset": "digits", "preprocessing": [{"name": "resize", "size": 0}]}},
     "data.preprocessing[0].size", "greater than 0"),
    ({"data": {"dataset": "digits", "preprocessing": [{"name": "standardise"}]}},
     "data.preprocessing[0].name: unknown preprocessing step 'standardise'", "did you mean 'standardize'"),
    ({"data": {"dataset": "digits", "val_fraction": 1.0}}, "data.val_fraction: expected a value less than 1", "1.0"),
    ({"data": {"dataset": {"name": "table", "path": "nowhere.csv", "target": "y"}}}, "data.dataset.path: file not found",
     "nowhere.csv"),
    ({"data": {"dataset": {"name": "table", "path": "data/penguins.csv", "target": "specie"}}},
     "data.dataset.target: no column 'specie' in penguins.csv", "columns: species, island"),
    ({"data": {"dataset": {"name": "cifar10", "root": "no-such-folder"}}}, "data.dataset.root: no CIFAR-10 files at",
     "no-such-folder/cifar-10-batches-py"),
    ({"scaling": {"num_workers": 3}}, "training.batch_size: 64 does not split evenly over scaling.num_workers = 3",
     "multiple of 3"),
    ({"training": {"epochs": 1, "precision": "fp16"}}, "training.precision: fp16 needs a GPU", "bf16"),
    ({"model": {"name": "guide_cnn"}, "data": {"dataset": {"name": "table", "path": "data/penguins.csv",
                                                           "target": "species"}}},
     "model.name: 'guide_cnn' needs images", "gives tables"),
    ({"data": {"dataset": "digits", "preprocessing": ["one_hot"]}}, "data.preprocessing[0].name: 'one_hot' works on tables",
     "gives images"),
    ({"tracking": {"experiment": ""}}, "tracking.experiment: expected", "at least 1 character"),
    ({"scaling": {"gpus": 1}}, "scaling.gpus: unknown key 'gpus'", "valid keys: cpus_per_worker, max_failures"),
    ({"trainig": {"epochs": 1}}, "trainig: unknown key 'trainig'", "did you mean 'training'"),
]


@pytest.mark.parametrize(("change", "expected_start", "expected_detail"), BAD_FIELDS,
                         ids=[case[1].split(":")[0] + "-" + str(i) for i, case in enumerate(BAD_FIELDS)])
def test_bad_field_is_refused_with_its_path(change: dict, expected_start: str, expected_detail: str) -> None:
    lines = _issues_near_jobs({**DIGITS_MLP, **change})
    matching = [line for line in lines if line.startswith(expected_start)]
    assert matching, f"no line starts with {expected_start!r}: {lines}"
    assert expected_detail in matching[0]


def _issues_near_jobs(raw: dict) -> list[str]:
    """Validate as if the file sat in jobs/, so relative data paths resolve like the shipped jobs'."""
    with pytest.raises(SpecError) as caught:
        validate_spec(raw, base_dir=JOBS)
    return [issue.render() for issue in caught.value.issues]


def test_all_problems_are_reported_at_once_with_file_and_line(tmp_path: Path) -> None:
    text = "data:\n  dataset: digitz\nmodel:\n  name: mlp\n  widht: 3\ntraining:\n  epochs: -1\n"
    path = write(tmp_path, text)
    with pytest.raises(SpecError) as caught:
        load_spec(path)
    lines = str(caught.value).splitlines()
    assert len(lines) == 3
    assert lines[0].startswith(f"{path}:2: data.dataset.name: unknown dataset 'digitz' (did you mean 'digits'?); "
                               "valid: cifar10, digits, ")
    assert lines[1].startswith(f"{path}:5: model.widht: unknown key 'widht'")
    assert lines[2] == f"{path}:7: training.epochs: expected a value greater than 0; got -1"


@pytest.mark.parametrize(("text", "expected"), [
    ("", "the file is empty"),
    ("- a\n- b\n", "expected a mapping"),
    ("data: [unclosed\n", "YAML syntax error"),
    ("a: !!python/object:os.system ls\n", "YAML syntax error"),
])
def test_unreadable_files_say_why(tmp_path: Path, text: str, expected: str) -> None:
    assert any(expected in line for line in issues_of(tmp_path, text))


def test_missing_file_is_a_spec_error(tmp_path: Path) -> None:
    with pytest.raises(SpecError, match="cannot read the job file"):
        load_spec(tmp_path / "absent.yaml")


def test_relative_data_paths_resolve_against_the_job_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    spec = load_spec(JOBS / "penguins_mlp.yaml")
    assert spec.data.dataset.path == (JOBS / "data" / "penguins.csv").resolve()


def test_overrides_change_any_field(tmp_path: Path) -> None:
    path = write(tmp_path, DIGITS_MLP)
    spec = load_spec(path, ["training.epochs=7", "model.hidden=[8, 4]", "loss=mse", "optimizer.lr=0.5",
                            "data.preprocessing=[{name: resize, size: 16}]", "data.preprocessing[0].size=12"])
    assert spec.training.epochs == 7 and spec.model.hidden == [8, 4]
    assert spec.loss.name == "mse" and spec.optimizer.lr == 0.5
    assert spec.data.preprocessing[0].size == 12


def test_bad_overrides_are_reported_with_the_expression(tmp_path: Path) -> None:
    lines = issues_of(tmp_path, DIGITS_MLP, ("training.epochs", "training.epochs=0"))
    assert lines[0].startswith("--set training.epochs: expected PATH=VALUE")
    assert len(lines) == 1  # override syntax errors stop before validation


def test_override_paths_parse_both_index_styles() -> None:
    assert parse_override_path("a.b[2].c") == ["a", "b", 2, "c"] == parse_override_path("a.b.2.c")
    assert apply_override({"loss": "mse"}, "loss.label_smoothing=0.1") == {
        "loss": {"name": "mse", "label_smoothing": 0.1}}


def test_resolved_spec_round_trips_through_yaml() -> None:
    spec = validate_spec(DIGITS_MLP)
    assert validate_spec(yaml.safe_load(spec_to_yaml(spec))) == spec


def test_json_schema_offers_every_registered_name_for_completion() -> None:
    schema = json.dumps(JobSpec.model_json_schema())
    for name in ("guide_cnn", "resnet18", "mlp", "digits", "cifar10", "table", "cosine", "cross_entropy", "resize"):
        assert f'"const": "{name}"' in schema or f'"{name}"' in schema
