"""The Brian2 engine's own behaviour (its equivalence with the fast kernels is in
test_equivalence.py)."""
import os
import subprocess
import sys

CODE = """
from dendrinet.backends import make_engine
from dendrinet.config import load_model, load_protocol
from dendrinet.weights import initial_parameters
m = load_model('guerguiev2017-0hidden')
p = load_protocol('quick')
for target in ('numpy', 'cython'):
    e = make_engine('brian2', m, p, initial_parameters(m, 64, 0), 0, target=target)
    print(target, e.compile_note())
"""


def test_compile_note_says_when_brian2_will_compile(tmp_path):
    """With an empty home folder (no compiled extensions yet) both targets announce a
    compilation; with this machine's cache the numpy target does not, if the cache holds
    compiled extensions."""
    empty = subprocess.run([sys.executable, "-c", CODE], capture_output=True, text=True,
                           check=True, env={**os.environ, "HOME": str(tmp_path)}).stdout
    lines = dict(line.split(" ", 1) for line in empty.strip().splitlines())
    assert "first use on this machine" in lines["numpy"]
    assert "generates and compiles" in lines["cython"]
    from pathlib import Path

    from brian2.codegen.runtime.cython_rt.extension_manager import get_cython_cache_dir
    if any(Path(get_cython_cache_dir()).glob("*.so")):
        here = subprocess.run([sys.executable, "-c", CODE], capture_output=True, text=True,
                              check=True).stdout
        assert "numpy None" in here
