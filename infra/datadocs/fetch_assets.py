"""Refresh the Data Docs assets lakesieve ships (``pipelines/core/datadocs_assets``) from Maven Central.

    .venv/bin/python infra/datadocs/fetch_assets.py

Great Expectations' Data Docs load Bootstrap, jQuery, Popper, bootstrap-table, bootstrap-datepicker and
Font Awesome from CDNs, so a page opened without network (an air-gapped workspace, a copied lakehouse)
renders unstyled and without its pass/fail icons. lakesieve serves the same versions from the docs site
itself (:mod:`pipelines.core.quality` rewrites the links). The files come from the WebJars on Maven
Central (the registry these machines reach); each keeps its licence (MIT; Font Awesome Free: fonts SIL
OFL 1.1, CSS MIT; bootstrap-datepicker Apache 2.0). Not served there, so left to the network: the
prefers-dark stylesheet (@forevolve/bootstrap-dark) and Vega (charts of profiling pages only).
"""
from __future__ import annotations

import io
import sys
import urllib.request
import zipfile
from pathlib import Path

CENTRAL = "https://repo1.maven.org/maven2"
OUT = Path(__file__).resolve().parents[2] / "pipelines" / "core" / "datadocs_assets"

# (group path, artifact, version, {path inside the webjar's resources: path under OUT})
JARS = [
    ("org/webjars", "bootstrap", "4.3.1", {"css/bootstrap.min.css": "bootstrap/bootstrap.min.css",
                                           "js/bootstrap.min.js": "bootstrap/bootstrap.min.js"}),
    ("org/webjars", "jquery", "3.7.1", {"jquery.min.js": "jquery/jquery.min.js"}),
    ("org/webjars", "popper.js", "1.12.9", {"umd/popper.min.js": "popper/popper.min.js"}),
    ("org/webjars/npm", "bootstrap-table", "1.19.1", {
        "dist/bootstrap-table.min.css": "bootstrap-table/bootstrap-table.min.css",
        "dist/bootstrap-table.min.js": "bootstrap-table/bootstrap-table.min.js",
        "dist/extensions/filter-control/bootstrap-table-filter-control.min.css":
            "bootstrap-table/bootstrap-table-filter-control.min.css",
        "dist/extensions/filter-control/bootstrap-table-filter-control.min.js":
            "bootstrap-table/bootstrap-table-filter-control.min.js",
        "LICENSE": "bootstrap-table/LICENSE"}),
    ("org/webjars", "bootstrap-datepicker", "1.9.0", {
        "css/bootstrap-datepicker.min.css": "bootstrap-datepicker/bootstrap-datepicker.min.css",
        "js/bootstrap-datepicker.min.js": "bootstrap-datepicker/bootstrap-datepicker.min.js"}),
    ("org/webjars", "font-awesome", "6.6.0", {
        "css/all.min.css": "font-awesome/css/all.min.css", "LICENSE.txt": "font-awesome/LICENSE.txt",
        **{f"webfonts/{f}.woff2": f"font-awesome/webfonts/{f}.woff2"
           for f in ("fa-brands-400", "fa-regular-400", "fa-solid-900", "fa-v4compatibility")}}),
]


def main() -> int:
    for group, artifact, version, files in JARS:
        url = f"{CENTRAL}/{group}/{artifact}/{version}/{artifact}-{version}.jar"
        with urllib.request.urlopen(url, timeout=60) as resp:
            jar = zipfile.ZipFile(io.BytesIO(resp.read()))
        prefix = f"META-INF/resources/webjars/{artifact}/{version}/"
        for inner, target in files.items():
            dest = OUT / target
            dest.parent.mkdir(parents=True, exist_ok=True)
            dest.write_bytes(jar.read(prefix + inner))
            print(f"{url} {inner} -> {dest.relative_to(OUT.parents[2])}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
