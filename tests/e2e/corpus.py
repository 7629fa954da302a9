"""Builds the test corpus: real wheels and sdists, generated deterministically.

Each project is a tiny but genuine distribution that pip can install: a wheel
with METADATA, WHEEL and RECORD, and an sdist tarball. Some carry padding so
that transfers take measurable time, and the dependency graph makes pip
resolve several projects per install.
"""
import base64
import hashlib
import io
import json
import os
import random
import tarfile
import zipfile

# name, version, requires-dist, requires-python, yanked, padding bytes
PROJECTS = [
    ("alpha", "1.0", [], None, None, 0),
    ("alpha", "2.0", ["beta>=1.0", "gamma"], None, None, 200_000),
    ("beta", "1.0", ["delta"], None, None, 150_000),
    ("gamma", "1.0", [], None, None, 100_000),
    ("gamma", "1.1", [], None, "broken release", 0),
    ("delta", "1.0", [], None, None, 300_000),
    ("Epsilon_Pkg", "1.0", [], None, None, 50_000),
    ("zeta", "1.0", [], None, None, 80_000),
    ("zeta", "2.0", [], ">=3.99", None, 0),
    ("eta", "1.0", ["theta"], None, None, 120_000),
    ("theta", "1.0", [], None, None, 60_000),
    ("iota", "1.0", [], None, None, 250_000),
    ("kappa", "1.0", ["iota"], None, None, 90_000),
    ("lambda-pkg", "1.0", [], None, None, 40_000),
    ("mu", "1.0", ["kappa", "lambda-pkg"], None, None, 110_000),
    ("corrupt", "1.0", [], None, None, 10_000),
]

UPLOAD_TIME = "2024-01-02T03:04:05.000000Z"


def normalize(name):
    import re
    return re.sub(r"[-_.]+", "-", name).lower()


def _record_hash(data):
    return "sha256=" + base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()


def _padding(name, version, size):
    return random.Random(f"{name}-{version}").randbytes(size)


def build_wheel(name, version, requires, requires_python, padding):
    dist = name.replace("-", "_")
    module = normalize(name).replace("-", "_")
    info = f"{dist}-{version}.dist-info"
    meta = [f"Metadata-Version: 2.1", f"Name: {name}", f"Version: {version}", "Summary: wheelhouse test package"]
    if requires_python:
        meta.append(f"Requires-Python: {requires_python}")
    meta += [f"Requires-Dist: {r}" for r in requires]
    import re
    for extra in dict.fromkeys(re.findall(r"extra == '([^']+)'", " ".join(requires))):
        meta.append(f"Provides-Extra: {extra}")  # as real metadata does: pip ignores undeclared extras
    files = {
        f"{module}/__init__.py": f'VERSION = "{version}"\n'.encode(),
        f"{info}/METADATA": ("\n".join(meta) + "\n").encode(),
        f"{info}/WHEEL": b"Wheel-Version: 1.0\nGenerator: wheelhouse-tests\nRoot-Is-Purelib: true\nTag: py3-none-any\n",
    }
    if padding:
        files[f"{module}/padding.bin"] = _padding(name, version, padding)
    record = "".join(f"{p},{_record_hash(d)},{len(d)}\n" for p, d in files.items()) + f"{info}/RECORD,,\n"
    files[f"{info}/RECORD"] = record.encode()
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for path, data in files.items():
            zi = zipfile.ZipInfo(path, date_time=(2024, 1, 2, 3, 4, 6))
            zi.compress_type = zipfile.ZIP_STORED if path.endswith(".bin") else zipfile.ZIP_DEFLATED
            zf.writestr(zi, data)
    return f"{dist}-{version}-py3-none-any.whl", buf.getvalue()


def build_sdist(name, version):
    base = f"{name.replace('-', '_')}-{version}"
    pkg_info = f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n".encode()
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz", format=tarfile.PAX_FORMAT) as tf:
        ti = tarfile.TarInfo(f"{base}/PKG-INFO")
        ti.size = len(pkg_info)
        ti.mtime = 1704164645
        tf.addfile(ti, io.BytesIO(pkg_info))
    return f"{base}.tar.gz", buf.getvalue()


def build(directory, big_wheel_mb=0, many_files=0):
    """Writes the corpus into `directory` and returns its index:
    {normalized project: [{"filename", "sha256", "size", "requires-python", "yanked", "version"}]}

    `big_wheel_mb` adds project "bigpkg" with one wheel of that size; `many_files`
    adds project "manyfiles" whose page lists that many files (pages only: the
    files themselves are not written)."""
    os.makedirs(directory, exist_ok=True)
    index = {}
    projects = list(PROJECTS)
    if big_wheel_mb:
        projects.append(("bigpkg", "1.0", [], None, None, big_wheel_mb * 1024 * 1024))
    for name, version, requires, rp, yanked, padding in projects:
        for filename, data in (build_wheel(name, version, requires, rp, padding), build_sdist(name, version)):
            path = os.path.join(directory, filename)
            if not os.path.exists(path):
                with open(path, "wb") as f:
                    f.write(data)
            index.setdefault(normalize(name), []).append({
                "filename": filename, "version": version,
                "sha256": hashlib.sha256(data).hexdigest(), "size": len(data),
                "requires-python": rp, "yanked": yanked,
            })
    for i in range(many_files):
        version = f"{i // 10}.{i % 10}"
        filename = f"manyfiles-{version}.tar.gz"
        index.setdefault("manyfiles", []).append({
            "filename": filename, "version": version, "sha256": hashlib.sha256(filename.encode()).hexdigest(),
            "size": 1000 + i, "requires-python": ">=3.8", "yanked": None,
        })
    with open(os.path.join(directory, "index.json"), "w") as f:
        json.dump(index, f, indent=1)
    return index


if __name__ == "__main__":
    import sys
    build(sys.argv[1], int(sys.argv[2]) if len(sys.argv) > 2 else 0)


# --- The prefetch corpus (tests/e2e/test_prefetch*.py): a dependency graph that
# needs resolving (extras, markers, yanked files, requires-python, a conflict to
# back out of), sdist-only projects that pip must build with setuptools, and the
# real setuptools/wheel wheels (downloaded by scripts/test-env.sh) to build them.

# name, version, requires-dist, requires-python, yanked
RESOLVER_PROJECTS = [
    ("requests", "2.31.0", ["urllib3<3,>=1.21.1", "idna<4,>=2.5", "certifi>=2017.4.17", "charset-normalizer<4,>=2",
                            "PySocks!=1.5.7,>=1.5.6; extra == 'socks'", "chardet<6,>=3.0.2; extra == 'use-chardet-on-py3'"],
     ">=3.7", None),
    ("requests", "2.30.0", ["urllib3", "idna", "certifi"], ">=3.7", None),
    ("urllib3", "1.26.18", [], None, None),
    ("urllib3", "2.2.1", [], ">=3.8", None),
    ("urllib3", "3.0.0a1", [], ">=3.8", None),
    ("idna", "3.6", [], ">=3.5", None),
    ("idna", "3.7", [], ">=3.5", "security issue"),
    ("certifi", "2024.2.2", [], None, None),
    ("charset-normalizer", "3.3.2", [], None, None),
    ("pysocks", "1.7.1", [], None, None),
    ("chardet", "5.2.0", [], None, None),
    # Backtracking: webapp 2.0 wants lib>=2, but helper (pinned by webapp too) wants lib<2.
    ("webapp", "2.0", ["lib>=2", "helper"], None, None),
    ("webapp", "1.0", ["lib>=1", "helper"], None, None),
    ("helper", "1.0", ["lib<2", "colorama; sys_platform == 'win32'", "tomli; python_version < '3.8'"], None, None),
    ("colorama", "0.4.6", [], None, None),  # only on Windows (a marker): universal lockers want it
    ("lib", "1.5", [], None, None),
    ("lib", "2.5", [], None, None),
    ("modern", "1.0", [], None, None),
    ("modern", "2.0", [], ">=3.99", None),
    ("sdist-app", "1.0", ["sdistonly", "legacysdist", "requests"], None, None),
]

# Sdist-only projects: name, version, dependencies, pyproject build-system (None: setup.py only).
SDIST_PROJECTS = [
    ("sdistonly", "1.0", ["certifi"], '[build-system]\nrequires = ["setuptools>=61"]\nbuild-backend = "setuptools.build_meta"\n'),
    ("legacysdist", "1.0", [], None),
]


def build_buildable_sdist(name, version, dependencies, build_system):
    """A real sdist that setuptools builds: pyproject.toml with [project] metadata
    (static dependencies, PEP 621), or only setup.py (legacy: pip's default backend)."""
    base = f"{name}-{version}"
    files = {f"{base}/{name}/__init__.py": f'VERSION = "{version}"\n'}
    if build_system:
        deps = ", ".join(f'"{d}"' for d in dependencies)
        files[f"{base}/pyproject.toml"] = build_system + f'\n[project]\nname = "{name}"\nversion = "{version}"\ndependencies = [{deps}]\n'
        files[f"{base}/PKG-INFO"] = f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n" + \
            "".join(f"Requires-Dist: {d}\n" for d in dependencies)
    else:
        files[f"{base}/setup.py"] = f"from setuptools import setup\nsetup(name={name!r}, version={version!r}, packages=[{name!r}], install_requires={dependencies!r})\n"
        files[f"{base}/PKG-INFO"] = f"Metadata-Version: 1.1\nName: {name}\nVersion: {version}\n"
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz", format=tarfile.PAX_FORMAT) as tf:
        for path, text in sorted(files.items()):
            data = text.encode()
            ti = tarfile.TarInfo(path)
            ti.size = len(data)
            ti.mtime = 1704164645
            tf.addfile(ti, io.BytesIO(data))
    return f"{base}.tar.gz", buf.getvalue()


def synthetic_projects(count):
    """`count` projects, three versions each, each depending on up to two others:
    a stand-in for a real application's ~300 pins."""
    projects = []
    for i in range(count):
        for minor in range(3):
            deps = [f"synth{j:03d}>=1.{minor % 2}" for j in (i * 7 % count, i * 13 % count) if j > i]
            projects.append((f"synth{i:03d}", f"1.{minor}", deps, None, None))
    return projects


def build_prefetch(directory, real_wheels=None, synthetic=0):
    """Writes the prefetch corpus into `directory` (same index.json layout as build())."""
    os.makedirs(directory, exist_ok=True)
    index = {}

    def add(name, filename, data, version, rp=None, yanked=None):
        with open(os.path.join(directory, filename), "wb") as f:
            f.write(data)
        index.setdefault(normalize(name), []).append({
            "filename": filename, "version": version, "sha256": hashlib.sha256(data).hexdigest(),
            "size": len(data), "requires-python": rp, "yanked": yanked})

    for name, version, requires, rp, yanked in RESOLVER_PROJECTS + synthetic_projects(synthetic):
        filename, data = build_wheel(name, version, requires, rp, 0)
        add(name, filename, data, version, rp, yanked)
    for name, version, dependencies, build_system in SDIST_PROJECTS:
        filename, data = build_buildable_sdist(name, version, dependencies, build_system)
        add(name, filename, data, version)
    for filename in sorted(os.listdir(real_wheels)) if real_wheels and os.path.isdir(real_wheels) else []:
        if filename.endswith(".whl"):
            with open(os.path.join(real_wheels, filename), "rb") as f:
                add(filename.split("-")[0], filename, f.read(), filename.split("-")[1], ">=3.8")
    with open(os.path.join(directory, "index.json"), "w") as f:
        json.dump(index, f, indent=1)
    return index
