"""The vendored browser code is what `make vendor` pinned, and the script refuses anything
else: the committed files match their pinned sha256, and a tarball or file that does not
is never written."""

from __future__ import annotations

import hashlib
import io
import re
import tarfile
from dataclasses import replace
from pathlib import Path

import pytest

from devstack.paths import REPO_ROOT
from devstack.vendor import (
    PACKAGES,
    REDOC,
    SWAGGER_UI,
    UPLOT,
    VENDOR_DIR,
    VendorError,
    extract,
)
from services.api.routes.web import WEB_DIR


@pytest.mark.parametrize("package", PACKAGES, ids=lambda package: package.spec)
def test_each_vendored_file_matches_its_pinned_sha256(package) -> None:
    folder = VENDOR_DIR / package.folder
    for name, pinned in package.files.values():
        data = (folder / name).read_bytes()
        assert hashlib.sha256(data).hexdigest() == pinned, f"{folder / name}: run `make vendor`"
    # Nothing else in the folder: a file nobody pinned is a file nobody checked.
    assert sorted(p.name for p in folder.iterdir()) == sorted(n for n, _ in package.files.values())


@pytest.mark.parametrize(
    ("package", "license_says"),
    [(UPLOT, "MIT"), (SWAGGER_UI, "Apache License"), (REDOC, "MIT")],
    ids=lambda value: getattr(value, "spec", value),
)
def test_the_version_is_exact_and_the_license_comes_along(package, license_says) -> None:
    assert re.fullmatch(r"\d+\.\d+\.\d+", package.version)
    assert "LICENSE" in {name for name, _ in package.files.values()}
    assert license_says in (VENDOR_DIR / package.folder / "LICENSE").read_text()


def tarball(path: Path, members: dict[str, bytes]) -> Path:
    with tarfile.open(path, "w:gz") as archive:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
    return path


def test_a_tarball_of_another_sha256_is_refused(tmp_path: Path) -> None:
    packed = tarball(tmp_path / "uplot.tgz", {"package/LICENSE": b"not the real thing"})
    with pytest.raises(VendorError, match=r"the tarball's sha256 is \w+, not the pinned"):
        extract(UPLOT, packed)


def test_a_file_of_another_sha256_is_refused_even_in_a_pinned_tarball(tmp_path: Path) -> None:
    packed = tarball(tmp_path / "uplot.tgz", {"package/LICENSE": b"changed"})
    digest = hashlib.sha256(packed.read_bytes()).hexdigest()
    package = replace(
        UPLOT, tarball_sha256=digest, files={"package/LICENSE": ("LICENSE", "0" * 64)}
    )
    with pytest.raises(VendorError, match="package/LICENSE has sha256"):
        extract(package, packed)


def test_the_page_links_the_vendored_css_and_the_chart_imports_the_vendored_module() -> None:
    page = (WEB_DIR / "index.html").read_text()
    assert '<link rel="stylesheet" href="/static/vendor/uplot/uPlot.min.css" />' in page
    chart = WEB_DIR / "static" / "js" / "views" / "rate-chart.js"
    [imported] = re.findall(r'from "([^"]*uPlot[^"]*)"', chart.read_text())
    assert (chart.parent / imported).resolve() == VENDOR_DIR / "uplot" / "uPlot.esm.js"


def test_no_registry_address_is_written_into_the_repository() -> None:
    for path in (REPO_ROOT / "devstack" / "vendor.py", REPO_ROOT / "Makefile"):
        assert "://" not in path.read_text(), path
