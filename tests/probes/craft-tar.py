#!/usr/bin/env python3
"""Craft hostile archives the way an attacker would, with tarfile.

  craft-tar.py OUT.tar ENTRY...                 a root file system tarball
  craft-tar.py --docker-save OUT.tar ENTRY...   a `docker save` archive of one
                                                image (tag evil:1) whose single
                                                layer holds the entries
  craft-tar.py --docker-save-raw OUT.tar ENTRY... the archive itself holds the
                                                entries, beside a manifest.json
                                                naming config.json and layer.tar

ENTRY is TYPE:NAME[=ARG]:
  d:NAME            directory (mode 0755; d1777:NAME for 01777)
  f:NAME=@PATH      regular file with PATH's bytes (f4755:... sets the mode)
  f:NAME=TEXT       regular file holding TEXT
  l:NAME=TARGET     symbolic link
  h:NAME=TARGET     hard link
  b:NAME=MAJ,MIN    block device (mode 0666)    c:NAME=MAJ,MIN  character device
Owners are 0:0 unless the entry ends in #UID:GID.
"""
import hashlib
import io
import json
import sys
import tarfile


def entries(specs):
    out = []
    for spec in specs:
        owner = (0, 0)
        if "#" in spec:
            spec, o = spec.rsplit("#", 1)
            owner = tuple(int(x) for x in o.split(":"))
        kind, rest = spec.split(":", 1)
        name, _, arg = rest.partition("=")
        t, mode = kind[0], kind[1:]
        i = tarfile.TarInfo(name)
        i.uid, i.gid = owner
        data = b""
        if t == "d":
            i.type, i.mode = tarfile.DIRTYPE, int(mode or "755", 8)
        elif t == "f":
            i.type, i.mode = tarfile.REGTYPE, int(mode or "644", 8)
            data = open(arg[1:], "rb").read() if arg.startswith("@") else arg.encode()
        elif t in "lh":
            i.type = tarfile.SYMTYPE if t == "l" else tarfile.LNKTYPE
            i.linkname, i.mode = arg, 0o777
        elif t in "bc":
            i.type = tarfile.BLKTYPE if t == "b" else tarfile.CHRTYPE
            i.devmajor, i.devminor = (int(x) for x in arg.split(","))
            i.mode = 0o666
        else:
            sys.exit("unknown entry type " + t)
        i.size = len(data)
        out.append((i, data))
    return out


def write(fileobj, items):
    with tarfile.open(fileobj=fileobj, mode="w", format=tarfile.GNU_FORMAT) as t:
        for i, data in items:
            t.addfile(i, io.BytesIO(data) if data else None)


def member(name, data):
    i = tarfile.TarInfo(name)
    i.size, i.mode = len(data), 0o644
    return i, data


def main(argv):
    mode = argv[0] if argv[0].startswith("--") else None
    out, specs = (argv[1], argv[2:]) if mode else (argv[0], argv[1:])
    if mode is None:
        with open(out, "wb") as f:
            write(f, entries(specs))
        return
    manifest = json.dumps([{"Config": "config.json", "Layers": ["layer.tar"],
                            "RepoTags": ["evil:1"]}]).encode()
    if mode == "--docker-save-raw":
        with open(out, "wb") as f:
            write(f, entries(specs) + [member("manifest.json", manifest)])
        return
    layer = io.BytesIO()
    write(layer, entries(specs))
    # diff_ids as docker save writes them: loaders check the layers against them.
    diff_id = "sha256:" + hashlib.sha256(layer.getvalue()).hexdigest()
    config = json.dumps({"architecture": "amd64", "os": "linux", "config": {"Cmd": ["/bin/sh"]},
                         "rootfs": {"type": "layers", "diff_ids": [diff_id]}}).encode()
    with open(out, "wb") as f:
        write(f, [member("config.json", config), member("layer.tar", layer.getvalue()),
                  member("manifest.json", manifest)])


if __name__ == "__main__":
    main(sys.argv[1:])
