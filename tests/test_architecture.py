"""The direction of imports is the architecture: jobs -> engine, trainer; trainer reads
datasets only through engine.contract; engine knows nothing of training; nothing imports jobs."""
import ast
import pathlib

ROOT = pathlib.Path(__file__).resolve().parents[1]


def imports_of(package: str) -> dict[str, set[str]]:
    found = {}
    for path in (ROOT / package).rglob("*.py"):
        names = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                names |= {a.name for a in node.names}
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                names.add(node.module)
        found[str(path.relative_to(ROOT))] = names
    return found


def test_engine_knows_nothing_of_training_or_jobs():
    for path, names in imports_of("engine").items():
        assert not [n for n in names if n.split(".")[0] in ("trainer", "jobs")], path


def test_trainer_reads_engine_only_through_the_contract():
    for path, names in imports_of("trainer").items():
        engine = [n for n in names if n.split(".")[0] == "engine"]
        assert all(n.startswith("engine.contract") for n in engine), (path, engine)
        assert not [n for n in names if n.split(".")[0] == "jobs"], path


def test_nothing_imports_jobs():
    for package in ("engine", "trainer", "tests"):
        for path, names in imports_of(package).items():
            if package == "tests" and "/jobs/" in path:
                continue  # the job tests exercise the entry points
            assert not [n for n in names if n.split(".")[0] == "jobs"], path
