# test_fed_tls.py: federation over HTTPS. Two mxdbd serve TLS (--tls-cert,
# --tls-key) with a certificate for their server names from a test CA made
# here with openssl; they check each other's certificate against that CA
# (--federation-ca), so a table joined from B replicates. A third server
# that trusts only the system store refuses B's certificate: its join fails.
import os
import shutil
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(__file__))
from fedlib import Cluster, q, shared_table, wait_for  # noqa: E402


def make_certs(d):
    """A CA, and one certificate for a.tls, b.tls and c.tls signed by it."""
    def run(*a):
        subprocess.run(a, check=True, capture_output=True, cwd=d)
    run("openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "ca.key", "-out", "ca.pem",
        "-days", "2", "-subj", "/CN=mxdb test CA")
    run("openssl", "req", "-newkey", "rsa:2048", "-nodes", "-keyout", "node.key", "-out", "node.csr",
        "-subj", "/CN=a.tls")
    with open(os.path.join(d, "ext.cnf"), "w") as f:
        f.write("subjectAltName=DNS:a.tls,DNS:b.tls,DNS:c.tls,IP:127.0.0.1\n")
    run("openssl", "x509", "-req", "-in", "node.csr", "-CA", "ca.pem", "-CAkey", "ca.key",
        "-CAcreateserial", "-out", "node.pem", "-days", "2", "-extfile", "ext.cnf")
    return [os.path.join(d, x) for x in ("ca.pem", "node.pem", "node.key")]


def main():
    if shutil.which("openssl") is None:
        print("test_fed_tls: SKIPPED: no openssl to make a test certificate")
        return
    d = tempfile.mkdtemp(prefix="mxdb-tls-")
    try:
        ca, cert, key = make_certs(d)
        tls = ["--tls-cert", cert, "--tls-key", key]
        trust = ["--federation-ca", ca]
        with Cluster(["a.tls", "b.tls", "c.tls"], extra=tls, plain=False, cafile=ca,
                     per_node={"a.tls": trust, "b.tls": trust}) as cl:
            a, b, c = cl.nodes
            room = shared_table(cl, "t", joiners=[b])
            path = "/_mxdb/v1/tables/%s/rows/com.example.todo/x" % q(room)
            a.call("PUT", path, {"v": 1})
            wait_for("the row on B", lambda: b.call("GET", path, ok=())[0] == 200)
            assert b.call("GET", path)[1] == {"v": 1}
            # C trusts only the system store: A's certificate is refused.
            st, out = c.client("POST", "/join/%s" % q("#t:a.tls"), {}, ok=())
            assert st != 200, (st, out)
            assert c.call("GET", path, ok=())[0] != 200
    finally:
        shutil.rmtree(d, ignore_errors=True)
    print("test_fed_tls: ok")


main()
