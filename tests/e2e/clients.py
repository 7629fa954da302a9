"""The client matrix: pip releases (each in its own venv, made by scripts/test-env.sh
under .venv-test/clients/) and uv. Installs go into a fresh --target directory, so the
cached client venvs stay clean and no venv is made per test."""
import glob
import os
import re
import subprocess
import sys
import time

VENV = os.path.dirname(os.path.dirname(sys.executable))
PIPS = ["20.3.4", "22.3.1", "23.0.1", "23.1.2", "24.0", "latest"]
CLIENTS = [f"pip-{v}" for v in PIPS] + ["uv"]
UV = os.path.join(os.path.dirname(sys.executable), "uv")


def pip_python(version):
    python = os.path.join(VENV, "clients", f"pip-{version}", "bin", "python")
    assert os.path.exists(python), f"run scripts/test-env.sh first ({python} is missing)"
    return python


def client_version(client):
    if client == "uv":
        return subprocess.run([UV, "--version"], capture_output=True, text=True, check=True).stdout.strip()
    out = subprocess.run([pip_python(client[4:]), "-m", "pip", "--version"], capture_output=True, text=True, check=True)
    return " ".join(out.stdout.split()[:2])


def install(client, index_url, target, *requirements, timeout=300):
    """Installs into `target` with no client cache; returns the CompletedProcess with .seconds."""
    env = dict(os.environ, PIP_CONFIG_FILE=os.devnull, PIP_DISABLE_PIP_VERSION_CHECK="1", PIP_NO_INPUT="1",
               UV_PYTHON_DOWNLOADS="never", UV_NO_CONFIG="1", UV_NO_CACHE="1")
    for var in ("PIP_INDEX_URL", "UV_INDEX_URL", "UV_DEFAULT_INDEX", "PIP_EXTRA_INDEX_URL"):
        env.pop(var, None)
    if client == "uv":
        args = [UV, "pip", "install", "--python", sys.executable, "--target", target, "--index-url", index_url]
    else:
        args = [pip_python(client[4:]), "-m", "pip", "install", "--no-cache-dir", "--target", target,
                "--index-url", index_url]
    started = time.monotonic()
    result = subprocess.run([*args, *requirements], capture_output=True, text=True, timeout=timeout, env=env)
    result.seconds = time.monotonic() - started
    return result


def installed(target):
    """{normalized project: version} of what an install put into `target`."""
    found = {}
    for info in glob.glob(os.path.join(target, "*.dist-info")):
        name, version = os.path.basename(info)[:-len(".dist-info")].rsplit("-", 1)
        found[re.sub(r"[-_.]+", "-", name).lower()] = version
    return found
