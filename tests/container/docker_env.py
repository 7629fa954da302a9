"""The Docker side of the container test: the engine (started here when none
answers, stopped by PID), the images (built with no registry), and a compose
project driven with Debian's docker-compose 1.29 exactly as a devstack user would.

Every wait is bounded in time; every command has a timeout.
"""
import os
import signal
import subprocess
import sys

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(ROOT, "tests", "e2e"))
import harness  # noqa: E402


def run(args, timeout=120, check=True, env=None, cwd=ROOT):
    result = subprocess.run(args, capture_output=True, text=True, timeout=timeout, env=env, cwd=cwd,
                            stdin=subprocess.DEVNULL)
    if check and result.returncode != 0:
        raise AssertionError(f"{' '.join(args)} exited {result.returncode}:\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}")
    return result


def wait_until(predicate, timeout):
    """harness.wait_until, polling every 0.5 s: each poll here runs a docker command."""
    return harness.wait_until(predicate, timeout=timeout, interval=0.5)


def engine_answers():
    try:
        return run(["docker", "info"], timeout=20, check=False).returncode == 0
    except subprocess.TimeoutExpired:
        return False


class Engine:
    """The Docker engine: the one already running, or a dockerd started (and later stopped) here."""

    def __init__(self, log_path):
        self.proc = None
        if engine_answers():
            return
        self.log = open(log_path, "ab")
        # Default data root, so images and layer caches outlive this run (CI on the same machine reuses them).
        self.proc = subprocess.Popen(["dockerd"], stdout=self.log, stderr=subprocess.STDOUT,
                                     stdin=subprocess.DEVNULL, start_new_session=True)
        if not wait_until(lambda: self.proc.poll() is None and engine_answers(), timeout=60):
            self.stop()
            raise RuntimeError(f"dockerd did not answer within 60 s:\n{open(log_path, errors='replace').read()[-3000:]}")

    @property
    def started_here(self):
        return self.proc is not None

    def stop(self):
        if self.proc is None:
            return
        if self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                os.kill(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout=30)
        self.log.close()
        self.proc = None


def bridge_gateway():
    """The host's address on Docker's default bridge (docker0): containers reach the host there,
    and nothing outside this machine does."""
    name = run(["docker", "network", "inspect", "bridge", "-f",
                '{{index .Options "com.docker.network.bridge.name"}}']).stdout.strip() or "docker0"
    out = run(["ip", "-4", "-o", "addr", "show", "dev", name]).stdout
    address = out.split(" inet ", 1)[1].split("/", 1)[0] if " inet " in out else ""
    assert address and not address.startswith("127."), f"no IPv4 address on {name}: {out!r}"
    return address


def base_image():
    """local/bookworm-slim:<week>-<recipe>, bootstrapped once and cached (scripts/container-base.sh)."""
    return run([os.path.join(ROOT, "scripts", "container-base.sh")], timeout=900).stdout.strip().splitlines()[-1]


def build_app_image(base):
    """The app container's image, built once per base image; older ones are removed."""
    repo = "wheelhouse-test/app"
    tag = f"{repo}:" + base.split(":", 1)[1]
    if run(["docker", "image", "inspect", tag], check=False).returncode != 0:
        run(["docker", "build", "-q", "--force-rm", "--build-arg", f"BASE_IMAGE={base}", "-t", tag,
             "-f", os.path.join(HERE, "app.Dockerfile"), HERE], timeout=600)
        old = run(["docker", "image", "ls", repo, "--format", "{{.Repository}}:{{.Tag}}"]).stdout.split()
        for stale in (t for t in old if t != tag):
            run(["docker", "image", "rm", stale], check=False)
    return tag


class Compose:
    """One compose project: compose.yml plus the test's app service, on its own name."""

    def __init__(self, project, env):
        self.project = project
        self.env = dict(os.environ, COMPOSE_PROJECT_NAME=project,
                        COMPOSE_FILE=f"{ROOT}/compose.yml:{HERE}/compose.test.yml", **env)

    def __call__(self, *args, timeout=180, check=True):
        return run(["docker-compose", *args], timeout=timeout, check=check, env=self.env)

    def container(self, service):
        cid = self("ps", "-q", service).stdout.strip()
        assert cid, f"no container for {service}"
        return cid

    def inspect(self, service, template):
        return run(["docker", "inspect", "-f", template, self.container(service)]).stdout.strip()

    def exec(self, service, *cmd, timeout=300, check=False):
        return self("exec", "-T", service, *cmd, timeout=timeout, check=check)

    def make(self, *args, timeout=60):
        """A make target run with this project's compose settings, as a user in the repo would."""
        return run(["make", "-s", *args], timeout=timeout, check=False, env=self.env)

    def volume_dir(self):
        """The named volume's folder on the host (the engine runs here, as root)."""
        return run(["docker", "volume", "inspect", "-f", "{{.Mountpoint}}",
                    f"{self.project}_wheelhouse_data"]).stdout.strip()

    def health(self, service="wheelhouse"):
        return self.inspect(service, "{{if .State.Health}}{{.State.Health.Status}}{{end}}")
