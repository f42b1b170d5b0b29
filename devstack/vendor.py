"""Third-party browser code the api serves, vendored: `make vendor`.

uPlot draws the web page's rate chart; Swagger UI and ReDoc draw the API's documentation
at /docs and /redoc. Neither the page nor the documentation loads anything from another
origin (their Content-Security-Policy says so), and a clean clone must serve them
without a network, even offline, so the files are committed under
services/api/web/static/vendor/. This fetches them again through npm, the ordinary
client, from a package pinned to an exact version, and refuses a tarball whose
sha256 is not the pinned one: a republished or tampered package fails loudly
instead of landing. Each file taken from it is pinned too, and
tests/unit/test_vendored_files.py holds the committed files to those pins.

To move to another version: change VERSION, run `make vendor`, and copy the hashes
it prints on the mismatch into the pins once you have checked the release.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
import sys
import tarfile
import tempfile
from dataclasses import dataclass
from pathlib import Path

from devstack.paths import REPO_ROOT

VENDOR_DIR = REPO_ROOT / "services" / "api" / "web" / "static" / "vendor"


@dataclass(frozen=True)
class VendoredPackage:
    name: str
    version: str
    tarball_sha256: str
    # Path inside the package tarball -> (name under VENDOR_DIR / folder, its sha256).
    files: dict[str, tuple[str, str]]
    folder: str

    @property
    def spec(self) -> str:
        return f"{self.name}@{self.version}"


UPLOT = VendoredPackage(
    name="uplot",
    version="1.6.32",
    tarball_sha256="4b8a8191e425658e3ea8c8c1314b0fc679c861ee3a1af2b20c7b16ba50b5133d",
    files={
        "package/dist/uPlot.esm.js": (
            "uPlot.esm.js",
            "5dd9b3281aa64b461b42d9945f6adb2649d346502b12281a9ae0d46599a80eba",
        ),
        "package/dist/uPlot.min.css": (
            "uPlot.min.css",
            "df630c6a8d6f8eeaff264b50f73ce5b114f646ffd9a0bb74f049b0a00135fa04",
        ),
        "package/LICENSE": (
            "LICENSE",
            "8f989229699b4fe2f1a0432d0e9edc338a8a911e250e2d1b01ecd770a5f5b1bd",
        ),
    },
    folder="uplot",
)
# The API's own documentation pages, /docs and /redoc, run these (services/api/openapi_docs.py).
# Apache-2.0 asks for its NOTICE to travel with the code; the .LICENSE.txt files name the
# licences of what each bundle bundles.
SWAGGER_UI = VendoredPackage(
    name="swagger-ui-dist",
    version="5.35.0",
    tarball_sha256="1b8e891893404ea4c3558b6a87e2a3e494e7eedba41168c2ece5800a391a6ea6",
    files={
        "package/swagger-ui-bundle.js": (
            "swagger-ui-bundle.js",
            "e6a898692f2d768e807c3ba4626068a69a2c5dd960dd6c76f3e4d3a3de180af2",
        ),
        "package/swagger-ui-bundle.js.LICENSE.txt": (
            "swagger-ui-bundle.js.LICENSE.txt",
            "37eb6e7e59aed57b2c1acf076574b818ea07b74265717e0bd67b59e0baf9abbb",
        ),
        "package/swagger-ui.css": (
            "swagger-ui.css",
            "5ed08757e53da3e026d6cbecc61fe5d43585c9560b302d534ad56692519a273d",
        ),
        "package/favicon-32x32.png": (
            "favicon-32x32.png",
            "3ed612f41e050ca5e7000cad6f1cbe7e7da39f65fca99c02e99e6591056e5837",
        ),
        "package/LICENSE": (
            "LICENSE",
            "cfc7749b96f63bd31c3c42b5c471bf756814053e847c10f3eb003417bc523d30",
        ),
        "package/NOTICE": (
            "NOTICE",
            "0d20d1adef18aee3f40dd258172155521ce702ac445cb5f7b7d60ed32dad2fb2",
        ),
    },
    folder="swagger-ui",
)
REDOC = VendoredPackage(
    name="redoc",
    version="2.5.4",
    tarball_sha256="44922df4d0eb45c1b066c09ec251e6bd9bd7ded16bc69e87613337b9d911a56e",
    files={
        "package/bundles/redoc.standalone.js": (
            "redoc.standalone.js",
            "dcaf76612bc4a3fbcc923a8966dee2f6146a5f32e5ce1b6f02dd60cbbf89500b",
        ),
        "package/bundles/redoc.standalone.js.LICENSE.txt": (
            "redoc.standalone.js.LICENSE.txt",
            "eed602ec32e00b2b9df1984fbcc26a687b1b3193ec01961389c4b8439e6edf73",
        ),
        "package/LICENSE": (
            "LICENSE",
            "d3026d549cf68ab7355bcfa85877bf8f845b3334a7efbfdc63936432fb34ff0e",
        ),
    },
    folder="redoc",
)
PACKAGES = (UPLOT, SWAGGER_UI, REDOC)


class VendorError(Exception):
    pass


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def pack(package: VendoredPackage, into: Path) -> Path:
    """The package's tarball, fetched by `npm pack` into ``into``."""
    npm = shutil.which("npm")
    if npm is None:
        raise VendorError("npm is not installed (Debian's package: npm)")
    result = subprocess.run(
        [npm, "pack", package.spec, "--json", "--ignore-scripts"],
        cwd=into,
        capture_output=True,
        text=True,
    )
    if result.returncode != 0:
        raise VendorError(f"npm pack {package.spec} failed:\n{result.stderr.strip()}")
    [packed] = json.loads(result.stdout)
    return into / packed["filename"]


def extract(package: VendoredPackage, tarball: Path) -> dict[str, bytes]:
    """The pinned files of the tarball, by their vendored name, each checked."""
    found = sha256(tarball.read_bytes())
    if found != package.tarball_sha256:
        raise VendorError(
            f"{package.spec}: the tarball's sha256 is {found}, "
            f"not the pinned {package.tarball_sha256}; nothing was written"
        )
    files: dict[str, bytes] = {}
    with tarfile.open(tarball, "r:gz") as archive:
        for member_name, (name, pinned) in package.files.items():
            member = archive.extractfile(member_name)
            if member is None:
                raise VendorError(f"{package.spec}: {member_name} is not a file in the tarball")
            data = member.read()
            digest = sha256(data)
            if digest != pinned:
                raise VendorError(
                    f"{package.spec}: {member_name} has sha256 {digest}, not the pinned {pinned}"
                )
            files[name] = data
    return files


def vendor(package: VendoredPackage) -> Path:
    """Fetch, check and write one package's files; the folder they are in."""
    with tempfile.TemporaryDirectory(prefix="vendor-") as scratch:
        files = extract(package, pack(package, Path(scratch)))
    target = VENDOR_DIR / package.folder
    target.mkdir(parents=True, exist_ok=True)
    for name, data in files.items():
        (target / name).write_bytes(data)
    return target


def main() -> int:
    for package in PACKAGES:
        try:
            target = vendor(package)
        except VendorError as error:
            print(f"make vendor: {error}", file=sys.stderr)
            return 1
        names = ", ".join(name for name, _ in package.files.values())
        print(f"{package.spec}: {names} checked and written to {target.relative_to(REPO_ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
