"""Real-size pages for the fake upstream (fake_upstream.py --pad-files/--pad-table)."""
import hashlib
import html
import json
import threading


class Padding:
    """Files listed beside a project's real ones, in the shape of PyPI's big pages
    (numpy, botocore, django): older releases, each an sdist and wheels for many
    Pythons and platforms, upload times, requires-python, core metadata, some yanked.
    Versions are 0.0.x, below every real release (wheel's are 0.45), so clients still
    pick real files; a padded wheel's metadata is not served (404)."""
    TAGS = [f"cp3{m}-cp3{m}-{plat}" for m in (9, 10, 11, 12, 13)
            for plat in ("manylinux_2_17_x86_64.manylinux2014_x86_64", "manylinux_2_17_aarch64.manylinux2014_aarch64",
                         "musllinux_1_1_x86_64", "win_amd64")] + ["py3-none-any"]
    PER_RELEASE = len(TAGS) + 1  # + the sdist
    CACHE_FROM = 10_000  # keep generated listings of pages this big (they take a while)

    def __init__(self, default, table_path):
        self.default = default
        self.table = {}
        if table_path:
            with open(table_path) as f:
                self.table = json.load(f)
        self.lock = threading.Lock()
        self.cache = {}

    def count(self, project):
        return self.table.get(project, self.default)

    def listing_only(self, index):
        return sorted(name for name in self.table if name not in index)

    def files(self, project):
        """[(filename, version, release index)] for the project's padding."""
        dist = project.replace("-", "_")
        out = []
        for i in range(self.count(project)):
            release, k = divmod(i, self.PER_RELEASE)
            version = f"0.0.{release}"
            name = f"{dist}-{version}.tar.gz" if k == len(self.TAGS) else f"{dist}-{version}-{self.TAGS[k]}.whl"
            out.append((name, version, release))
        return out

    def versions(self, project):
        return [f"0.0.{r}" for r in range((self.count(project) + self.PER_RELEASE - 1) // self.PER_RELEASE)]

    def listing(self, project, kind, host, metadata):
        """The padding as a JSON array's inner text or HTML lines, cached for big pages."""
        key = (project, kind, host, metadata)
        with self.lock:
            if key in self.cache:
                return self.cache[key]
        parts = []
        for name, version, release in self.files(project):
            digest = hashlib.sha256(name.encode()).hexdigest()
            meta = hashlib.sha256(name.encode() + b".metadata").hexdigest() if metadata and name.endswith(".whl") else None
            rp = ">=3.8" if release % 2 else None
            yanked = "withdrawn by the benchmark" if release % 50 == 7 else None
            if kind == "json":
                entry = {"filename": name, "url": f"{host}/files/{name}", "hashes": {"sha256": digest},
                         "size": 100_000 + (release * 7919 + len(name)) % 20_000_000,
                         "upload-time": f"20{10 + release % 15}-0{1 + release % 9}-1{release % 10}T0{release % 10}:12:34.567890Z",
                         "provenance": None, "requires-python": rp, "yanked": yanked or False}
                if meta:
                    entry["core-metadata"] = entry["data-dist-info-metadata"] = {"sha256": meta}
                parts.append(json.dumps(entry))
            else:
                attrs = f'href="../../files/{name}#sha256={digest}"'
                if rp:
                    attrs += f' data-requires-python="{html.escape(rp)}"'
                if yanked:
                    attrs += f' data-yanked="{yanked}"'
                if meta:
                    attrs += f' data-dist-info-metadata="sha256={meta}" data-core-metadata="sha256={meta}"'
                parts.append(f"<a {attrs}>{name}</a><br/>")
        text = (", " if kind == "json" else "\n").join(parts)
        if len(parts) >= self.CACHE_FROM:
            with self.lock:
                self.cache[key] = text
        return text
