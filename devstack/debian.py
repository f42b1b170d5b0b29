"""Debian packages the local stack needs (redis-server, chromium, wrk), installed when missing."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

from devstack.processes import StartError

APT_ENV = {"DEBIAN_FRONTEND": "noninteractive", "PATH": "/usr/sbin:/usr/bin:/sbin:/bin"}


def ensure_package(binary: str, package: str) -> str:
    """The path of ``binary``, installing Debian's ``package`` first when it is missing."""
    found = find(binary)
    if found:
        return found
    apt = shutil.which("apt-get")
    if apt is None:
        raise StartError(f"{binary} is not installed and apt-get is not available")
    install = [apt, "install", "-y", "--no-install-recommends", package]
    if subprocess.run(install, env=APT_ENV, capture_output=True).returncode != 0:
        # A fresh machine has no package lists yet.
        subprocess.run([apt, "update"], env=APT_ENV, capture_output=True)
        result = subprocess.run(install, env=APT_ENV, capture_output=True, text=True)
        if result.returncode != 0:
            raise StartError(f"cannot install {package}:\n{result.stderr}")
    found = find(binary)
    if not found:
        raise StartError(f"{package} was installed but {binary} cannot be found")
    return found


def ensure_wrk() -> str:
    """wrk, the HTTP load generator `make bench` measures the api with."""
    return ensure_package("wrk", "wrk")


def find(binary: str) -> str | None:
    usual = Path("/usr/bin") / binary
    return shutil.which(binary) or (str(usual) if usual.exists() else None)
