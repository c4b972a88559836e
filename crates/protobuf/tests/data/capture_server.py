import http.server, json, sys, os, itertools
OUT = sys.argv[2]
counter = itertools.count()
class H(http.server.BaseHTTPRequestHandler):
    def log_message(self, *a): pass
    def _send(self, code, obj):
        body = json.dumps(obj).encode()
        self.send_response(code)
        self.send_header('Content-Type', 'application/json')
        self.send_header('Content-Length', str(len(body)))
        self.end_headers()
        self.wfile.write(body)
    def do_GET(self):
        with open(os.path.join(OUT, 'gets.log'), 'a') as f: f.write(self.path + '\n')
        if self.path.startswith('/version'):
            return self._send(200, {"major": "1", "minor": "32", "gitVersion": "v1.32.0"})
        if self.path.startswith('/api?') or self.path == '/api':
            return self._send(200, {"kind": "APIVersions", "versions": ["v1"], "serverAddressByClientCIDRs": []})
        if self.path.startswith('/api/v1?') or self.path == '/api/v1':
            res = lambda n, k, ns: {"name": n, "singularName": "", "namespaced": ns, "kind": k, "verbs": ["get", "list", "create"]}
            return self._send(200, {"kind": "APIResourceList", "groupVersion": "v1", "resources": [res("pods", "Pod", True), res("configmaps", "ConfigMap", True), res("nodes", "Node", False)]})
        if self.path.startswith('/apis?') or self.path == '/apis':
            return self._send(200, {"kind": "APIGroupList", "apiVersion": "v1", "groups": []})
        return self._send(404, {"kind": "Status", "apiVersion": "v1", "status": "Failure", "code": 404, "reason": "NotFound"})
    def do_POST(self):
        n = int(self.headers.get('Content-Length', 0))
        body = self.rfile.read(n)
        i = next(counter)
        name = os.path.join(OUT, f'{i:02d}')
        with open(name + '.bin', 'wb') as f: f.write(body)
        with open(name + '.meta', 'w') as f: f.write(f"{self.path}\n{self.headers.get('Content-Type')}\n")
        self._send(201, {"kind": "Status", "apiVersion": "v1", "status": "Success", "code": 201})
http.server.ThreadingHTTPServer(('127.0.0.1', int(sys.argv[1])), H).serve_forever()
