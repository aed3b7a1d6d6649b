"""Where a submitted job reads and writes: every path checked before upload, and no stage
writing into the job's uploaded (temporary) working directory."""
import importlib.metadata
import json
import os

import pytest

from jobs.common import entry_point
from jobs.config import ConfigError, load_config
from jobs.paths import RAY_JOB_CONFIG, check_job_paths, check_submit_paths, is_loopback, job_working_dir, ray_job
from jobs.tag import tag

DEMO_SHAPED = """model: data/demo/model
store: store/demo
task: {train: data/demo/train.tsv, dev: data/demo/dev.tsv, test: data/demo/test.tsv}
domain: {corpus: data/demo/corpus.csv}
"""


def demo_project(root):
    """The demo's layout under root: a config with relative paths, and the files they name."""
    (root / "configs").mkdir()
    (root / "data/demo/model").mkdir(parents=True)
    for name in ("train.tsv", "dev.tsv", "test.tsv", "corpus.csv"):
        (root / "data/demo" / name).write_text("text\tlabel\n")
    (root / "configs/demo.yaml").write_text(DEMO_SHAPED)
    return str(root / "configs/demo.yaml")


def unresolved(config, *overrides):
    return load_config(config, list(overrides), resolve=False)


def test_only_loopback_addresses_count_as_this_machine():
    assert is_loopback("http://127.0.0.1:8265") and is_loopback("http://localhost:8265")
    assert is_loopback("127.0.0.2:8265") and is_loopback("http://[::1]:8265")
    assert not is_loopback("http://10.0.0.5:8265") and not is_loopback("http://head.example.com:8265")


def test_relative_paths_are_resolved_here_when_the_head_runs_on_this_machine(tmp_path):
    config = demo_project(tmp_path)
    checked = check_submit_paths(unresolved(config), head_here=True, cwd=str(tmp_path))
    assert checked.overrides == [f"base_dir={tmp_path}"]
    assert f"store: {tmp_path}/store/demo (from store/demo) (on this machine, where the job server runs)" in checked.lines
    assert str(tmp_path / "data/demo/model") in checked.local
    # The job reads the same absolute paths a local run would.
    job = load_config(config, checked.overrides)
    assert job.store == str(tmp_path / "store/demo") and job.model == str(tmp_path / "data/demo/model")


def test_a_relative_path_is_refused_naming_its_key_when_the_head_is_elsewhere(tmp_path):
    config = demo_project(tmp_path)
    with pytest.raises(ConfigError, match=r"config key 'model': data/demo/model is a relative path .* not on this "
                                          r"machine.*absolute path on storage every node shares, a URI"):
        check_submit_paths(unresolved(config), head_here=False, cwd=str(tmp_path))
    absolute_but_store = [f"{key}={tmp_path}/data/demo/{name}" for key, name in
                          (("model", "model"), ("task.train", "train.tsv"), ("task.dev", "dev.tsv"),
                           ("task.test", "test.tsv"), ("domain.corpus", "corpus.csv"))]
    with pytest.raises(ConfigError, match=r"config key 'store': store/demo is a relative path"):
        check_submit_paths(unresolved(config, *absolute_but_store), head_here=False, cwd=str(tmp_path))


def test_absolute_paths_pass_with_a_line_that_they_must_be_shared(tmp_path):
    config = demo_project(tmp_path)
    checked = check_submit_paths(unresolved(config, "base_dir=/mnt/shared/project"), head_here=False, cwd=str(tmp_path))
    assert checked.overrides == []
    assert "model: /mnt/shared/project/data/demo/model (from data/demo/model) (must be on a disk every node shares)" \
        in checked.lines


def test_uri_paths_pass_wherever_the_head_is(tmp_path):
    config = demo_project(tmp_path)
    uris = [f"{key}=s3://bucket/{key}" for key in ("model", "task.train", "task.dev", "task.test", "domain.corpus",
                                                    "store")]
    checked = check_submit_paths(unresolved(config, *uris), head_here=False, cwd=str(tmp_path))
    assert checked.overrides == [] and checked.local == [] and "store: s3://bucket/store" in checked.lines
    via_base = check_submit_paths(unresolved(config, "base_dir=s3://bucket/p?endpoint_override=h:9000"),
                                  head_here=False, cwd=str(tmp_path))
    assert "store: s3://bucket/p/store/demo?endpoint_override=h:9000" in via_base.lines


def test_a_missing_input_on_this_machine_is_found_before_upload(tmp_path):
    config = demo_project(tmp_path)
    (tmp_path / "data/demo/dev.tsv").unlink()
    with pytest.raises(ConfigError, match=rf"config key 'task.dev': {tmp_path}/data/demo/dev.tsv does not exist"):
        check_submit_paths(unresolved(config), head_here=True, cwd=str(tmp_path))


def job_env(working_dir: bool = True) -> dict[str, str]:
    """What Ray's job supervisor gives a job's driver."""
    runtime_env = {"working_dir": "gcs://_ray_pkg_0123456789abcdef.zip"} if working_dir else {}
    return {RAY_JOB_CONFIG: json.dumps({"runtime_env": runtime_env, "metadata": {"job_submission_id": "raysubmit_X"}})}


def test_the_uploaded_working_directory_is_known_only_inside_a_job_that_has_one(tmp_path):
    assert job_working_dir(ray_job(job_env()), str(tmp_path)) == os.path.realpath(tmp_path)
    assert job_working_dir(ray_job(job_env(working_dir=False)), str(tmp_path)) is None
    assert ray_job({"PATH": "/bin"}) is None


def test_an_input_that_was_never_uploaded_is_named_inside_the_job(tmp_path):
    config = demo_project(tmp_path)
    (tmp_path / "elsewhere").mkdir()
    cfg = load_config(config, [f"store={tmp_path}/elsewhere", f"model={tmp_path}/model-not-uploaded"])
    with pytest.raises(ConfigError, match=r"config key 'model': .*model-not-uploaded is inside this Ray job's "
                                          r"uploaded working directory and was not uploaded"):
        check_job_paths(cfg, str(tmp_path))


def test_a_stage_whose_store_is_inside_the_jobs_working_directory_refuses_to_start(tmp_path, monkeypatch, capsys,
                                                                                    tagging_project_maker):
    # The job's cwd is its uploaded working directory: a relative store resolves inside it.
    config = tagging_project_maker(tmp_path, documents=2, shard_documents=2)
    monkeypatch.chdir(tmp_path)
    assert entry_point("tag", tag, [config, "store=store-in-upload"], trains=False, env=job_env()) == 2
    said = capsys.readouterr()
    assert said.out.startswith(f"[taskpt tag] taskpt {importlib.metadata.version('taskpt')} in Ray job raysubmit_X; "
                               "reads model ")
    assert f"writes under {tmp_path}/store-in-upload" in said.out
    assert ("config key 'store': " + f"{tmp_path}/store-in-upload is inside this Ray job's uploaded working "
            "directory, which Ray deletes") in said.err
    assert not (tmp_path / "store-in-upload").exists()


def test_a_hugging_face_model_id_passes_the_submit_check_wherever_the_head_is(tmp_path):
    """The job reads it from the Hugging Face cache of the node it runs on: nothing to resolve here."""
    config = demo_project(tmp_path)
    for head_here in (True, False):
        checked = check_submit_paths(unresolved(config, "model=FacebookAI/roberta-base", f"base_dir={tmp_path}"),
                                     head_here=head_here, cwd=str(tmp_path))
        assert "model: FacebookAI/roberta-base (a Hugging Face model id: read from the Hugging Face cache where " \
               "the job runs, downloaded there once)" in checked.lines
        assert not [path for path in checked.local if "roberta" in path]


def test_a_stage_reads_a_model_id_from_the_hugging_face_cache_and_plans_on_its_files(tmp_path, hf_home, capsys,
                                                                                   local_ray, tagging_project_maker):
    config = tagging_project_maker(tmp_path, documents=2, shard_documents=2)
    seen = []
    env = {"HF_HOME": str(hf_home.home), "HF_HUB_OFFLINE": "1"}
    assert entry_point("tag", lambda cfg, plan: seen.append((cfg.model, plan)), [config, f"model={hf_home.model_id}"],
                       trains=False, env=env) == 0
    [(model, plan)] = seen
    assert model == hf_home.snapshot
    assert f"[taskpt tag] model org/tiny-bert: {hf_home.snapshot} (Hugging Face cache)" in capsys.readouterr().out
    # Fingerprints hash the checkpoint's files, not its path: the same datasets as the directory's.
    from jobs.plan import make_plan
    direct = make_plan(load_config(config, [f"model={hf_home.snapshot}"]))
    assert (plan.tagger, plan.tagged, plan.results) == (direct.tagger, direct.tagged, direct.results)

    assert entry_point("tag", lambda cfg, plan: seen.append(cfg), [config, "model=org/not-cached"], trains=False,
                       env={**env, "HF_HOME": str(tmp_path / "empty")}) == 2
    [line] = capsys.readouterr().err.strip().splitlines()
    assert line.startswith("taskpt tag: error: model: org/not-cached is neither a checkpoint directory nor in the "
                           f"Hugging Face cache ({tmp_path}/empty/hub), and HF_HUB_OFFLINE=1 forbids downloading it")
    assert len(seen) == 1


def test_a_stage_that_trains_refuses_weights_its_config_does_not_describe_before_any_work(tmp_path, capsys,
                                                                                       tagging_project_maker):
    """Checked where the stage trains from the general model; tagging reads only the tagger."""
    import shutil

    config = tagging_project_maker(tmp_path, documents=2, shard_documents=2)
    model = shutil.copytree(load_config(config).model, tmp_path / "wider")
    described = json.loads((model / "config.json").read_text())
    (model / "config.json").write_text(json.dumps({**described, "hidden_size": 2 * described["hidden_size"]}))
    ran = []
    assert entry_point("finetune", lambda cfg, plan: ran.append(cfg), [config, f"model={model}"], env={}) == 2
    [line] = capsys.readouterr().err.strip().splitlines()
    assert line.startswith(f"taskpt finetune: error: model: {model}: weight embeddings.word_embeddings.weight has "
                           "shape [") and not ran
