"""What the benchmark scripts share: the repository's root, a temporary project of demo VMs
driven through the real qcmdr, the guest's folder, and how a duration is printed."""

import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def vm_lua(name, port, guest, extra_arg="", kernel_args=""):
    return f"""    {{
      name = "{name}", arch = "x86_64", login_timeout = 120,
      ssh = {{ Port = {port}, User = "root", IdentityFile = "{guest}/id_ed25519" }},
      args = {{
        "-machine q35,accel=tcg", "-cpu max", "-m 256", "-display none",
        "-kernel {guest}/vmlinuz", "-initrd {guest}/initrd.gz",
        "-append", '"console=ttyS0 quiet {kernel_args}"',
        "-netdev user,id=net0,hostfwd=tcp:127.0.0.1:{port}-:22", "-device virtio-net-pci,netdev=net0",
        {extra_arg}
      }},
    }},
"""


class Bench:
    def __init__(self, qcmdr, guest, vm_count=1, extra_arg="", kernel_args=""):
        self.dir = tempfile.mkdtemp(prefix="qcmdr-bench")
        self.qcmdr = qcmdr
        self.names = ["demo"] + [f"vm{i:02}" for i in range(1, vm_count)]
        self.ports = {n: free_port() for n in self.names}
        vms = "".join(vm_lua(n, self.ports[n], guest, extra_arg, kernel_args) for n in self.names)
        self.conf = os.path.join(self.dir, "conf.lua")
        with open(self.conf, "w") as f:
            f.write("return {\n  vms = {\n" + vms + "  },\n}\n")

    def cmd(self, *args, **kw):
        return subprocess.run([self.qcmdr, "-c", self.conf, *args], capture_output=True, text=True, **kw)

    def ok(self, *args):
        run = self.cmd(*args)
        if run.returncode != 0:
            sys.exit(f"qcmdr {' '.join(args)} failed:\n{run.stdout}\n{run.stderr}")
        return run

    def show(self, vm="demo"):
        return json.loads(self.ok("show", vm, "--json").stdout)

    def cleanup(self):
        self.cmd("stop", "--all", "--force")
        shutil.rmtree(self.dir, ignore_errors=True)


def ms(seconds):
    return f"{seconds * 1000:7.1f} ms"


def build_guest():
    """The demo guest's folder (built by guest/build.sh, cached)."""
    return subprocess.run(["bash", os.path.join(REPO, "guest/build.sh")], check=True,
                          capture_output=True, text=True).stdout.strip().splitlines()[-1]
