"""Generated projects with pages of real PyPI size, for memory tests (fake_upstream.py
--synthetic PROJECTSxFILES): projects `synth-0` .. `synth-<N-1>`, each listing FILES
files like a big project on PyPI (about 20 wheels per version plus an sdist, long URLs,
sha256, size, upload time, requires-python, core-metadata). Nothing is stored: a
page is made when asked for, and a file's bytes are made from its name, so its
sha256 on the page matches what /files/ serves.
"""
import hashlib
import json

PLATFORMS = [f"cp3{minor}-cp3{minor}-{plat}" for minor in (9, 10, 11, 12, 13) for plat in (
    "manylinux_2_17_x86_64.manylinux2014_x86_64", "manylinux_2_17_aarch64.manylinux2014_aarch64",
    "musllinux_1_1_x86_64", "win_amd64")]


def parse(spec):
    """'200x2000' -> (200, 2000)."""
    projects, files = spec.lower().split("x")
    return int(projects), int(files)


def file_bytes(filename):
    return (f"synthetic file {filename}\n" * 16).encode()


def is_synthetic_file(filename):
    return filename.startswith("synth_")


def _filenames(index, count):
    names = []
    version = 0
    while len(names) < count:
        v = f"{version // 10}.{version % 10}.0"
        names.append(f"synth_{index}-{v}.tar.gz")
        for tag in PLATFORMS:
            if len(names) < count:
                names.append(f"synth_{index}-{v}-{tag}.whl")
        version += 1
    return names


def page_json(spec, project, host):
    """The PEP 691 JSON page of a synthetic project, or None when there is no such project."""
    projects, count = parse(spec)
    if not project.startswith("synth-") or not project[6:].isdigit() or int(project[6:]) >= projects:
        return None
    index = int(project[6:])
    files = []
    for n, name in enumerate(_filenames(index, count)):
        data = file_bytes(name)
        sha = hashlib.sha256(data).hexdigest()
        entry = {
            "filename": name,
            # As long as PyPI's (files.pythonhosted.org/packages/xx/yy/<60 hex>/<name>).
            "url": f"{host}/files/{name}?packages={sha[:2]}/{sha[2:4]}/{sha[4:64]}",
            "hashes": {"sha256": sha}, "size": len(data), "requires-python": ">=3.9",
            "upload-time": f"2024-{1 + n % 12:02d}-{1 + n % 28:02d}T03:04:05.{n % 1000000:06d}Z",
        }
        if name.endswith(".whl"):
            entry["core-metadata"] = {"sha256": hashlib.sha256(b"metadata " + name.encode()).hexdigest()}
        files.append(entry)
    versions = sorted({f["filename"].split("-")[1].removesuffix(".tar.gz") for f in files})
    body = {"meta": {"api-version": "1.1"}, "name": project, "versions": versions, "files": files}
    return json.dumps(body).encode()
