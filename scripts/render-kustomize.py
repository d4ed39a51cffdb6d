#!/usr/bin/env python3
"""Render a kustomization directory (base or overlay) to multi-document YAML on stdout.

Debian's registries carry no kustomize (and Debian's kubernetes-client is 1.20, whose built-in
kustomize is v2), so this renders the subset our deploy/kubernetes tree uses, and refuses anything
else rather than ignore it:

- `resources`: files and directories (a directory must hold a kustomization.yaml);
- `namespace`: set on every namespaced object (and on ServiceAccount subjects of bindings);
- `patches` with `path` only: strategic-merge patches, matched by apiVersion/kind/name. Maps merge;
  lists of containers, initContainers, volumes, env, imagePullSecrets merge by `name`, volumeMounts
  by `mountPath`, container ports by `containerPort` (patch items first, as kustomize orders them); every other list is replaced (as Kubernetes'
  strategic merge does for lists without a merge key, e.g. tolerations).

Where `kubectl kustomize` is installed, it renders the same set of objects.

Usage: scripts/render-kustomize.py DIR [-o FILE]
"""

from __future__ import annotations

import argparse
import copy
import sys
from pathlib import Path

import yaml

SUPPORTED_KEYS = {"apiVersion", "kind", "namespace", "resources", "patches"}
CLUSTER_SCOPED = {
    "Namespace", "ClusterRole", "ClusterRoleBinding", "CustomResourceDefinition",
    "PersistentVolume", "StorageClass", "PriorityClass", "RuntimeClass",
}
MERGE_KEYS = {
    "containers": "name", "initContainers": "name", "ephemeralContainers": "name",
    "volumes": "name", "env": "name", "imagePullSecrets": "name",
    "volumeMounts": "mountPath", "ports": "containerPort",
}


class RenderError(Exception):
    pass


def load_docs(path: Path) -> list[dict]:
    with open(path, encoding="utf-8") as f:
        docs = [d for d in yaml.safe_load_all(f) if d is not None]
    for d in docs:
        if not isinstance(d, dict) or "kind" not in d:
            raise RenderError(f"{path}: every document must be a Kubernetes object")
    return docs


def key_of(obj: dict) -> tuple[str, str, str]:
    return (obj.get("apiVersion", ""), obj["kind"], obj.get("metadata", {}).get("name", ""))


def merge(base, patch, field: str | None = None):
    """Strategic merge of `patch` into `base` (both plain YAML data); returns the result."""
    if isinstance(base, dict) and isinstance(patch, dict):
        out = dict(base)
        for k, v in patch.items():
            if v is None:
                out.pop(k, None)
            elif k in out:
                out[k] = merge(out[k], v, k)
            else:
                out[k] = copy.deepcopy(v)
        return out
    if isinstance(base, list) and isinstance(patch, list) and field in MERGE_KEYS:
        mk = MERGE_KEYS[field]
        if all(isinstance(x, dict) and mk in x for x in base + patch):
            # kustomize's order: the patch's items first (merged into the base's), then the
            # base's other items in their order.
            by_key = {x[mk]: x for x in base}
            out = [merge(by_key[i[mk]], i, None) if i[mk] in by_key else copy.deepcopy(i)
                   for i in patch]
            patched = {i[mk] for i in patch}
            return out + [copy.deepcopy(x) for x in base if x[mk] not in patched]
    return copy.deepcopy(patch)


def render(dir_: Path) -> list[dict]:
    kfile = dir_ / "kustomization.yaml"
    if not kfile.is_file():
        raise RenderError(f"{dir_}: no kustomization.yaml")
    k = yaml.safe_load(kfile.read_text(encoding="utf-8")) or {}
    unknown = set(k) - SUPPORTED_KEYS
    if unknown:
        raise RenderError(f"{kfile}: unsupported keys {sorted(unknown)} (see scripts/render-kustomize.py)")
    objs: list[dict] = []
    for res in k.get("resources", []) or []:
        p = (dir_ / res).resolve()
        objs.extend(render(p) if p.is_dir() else load_docs(p))
    for patch in k.get("patches", []) or []:
        if set(patch) != {"path"}:
            raise RenderError(f"{kfile}: only `patches: - path: FILE` is supported, got {patch}")
        for pdoc in load_docs(dir_ / patch["path"]):
            matches = [i for i, o in enumerate(objs) if key_of(o) == key_of(pdoc)]
            if len(matches) != 1:
                raise RenderError(f"{kfile}: patch {patch['path']} matches {len(matches)} objects {key_of(pdoc)}")
            objs[matches[0]] = merge(objs[matches[0]], pdoc)
    ns = k.get("namespace")
    if ns:
        for o in objs:
            if o["kind"] not in CLUSTER_SCOPED:
                o.setdefault("metadata", {})["namespace"] = ns
            if o["kind"] in ("RoleBinding", "ClusterRoleBinding"):
                for s in o.get("subjects", []) or []:
                    if s.get("kind") == "ServiceAccount":
                        s["namespace"] = ns
    seen = set()
    for o in objs:
        ident = (key_of(o), o.get("metadata", {}).get("namespace"))
        if ident in seen:
            raise RenderError(f"{dir_}: duplicate object {ident}")
        seen.add(ident)
    return objs


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("dir", type=Path)
    ap.add_argument("-o", "--output", type=Path)
    args = ap.parse_args()
    try:
        objs = render(args.dir)
    except (RenderError, OSError, yaml.YAMLError) as e:
        print(f"render-kustomize: {e}", file=sys.stderr)
        return 1
    text = yaml.safe_dump_all(objs, sort_keys=False, default_flow_style=False)
    if args.output:
        args.output.write_text(text, encoding="utf-8")
    else:
        sys.stdout.write(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
