#!/usr/bin/env bash
# Captures the protobuf request bodies real kubectl sends, next to the JSON kubectl prints for
# the same object with --dry-run=client -o json (the JSON body it would otherwise have sent).
# Usage: tests/data/capture.sh   (needs kubectl and python3; listens on 127.0.0.1 only)
set -euo pipefail
cd "$(dirname "$0")"
port=${PORT:-18765}
spool=$(mktemp -d)
python3 capture_server.py "$port" "$spool" &
server=$!
trap 'kill $server; rm -rf "$spool"' EXIT
sleep 1
k() { kubectl --server "http://127.0.0.1:$port" --token x "$@"; }

# name, then kubectl arguments; "json" marks commands that can print their object.
capture() {
  local name=$1 print=$2
  shift 2
  rm -f "$spool"/*.bin "$spool"/*.meta
  k "$@" >/dev/null 2>&1 || true
  local body
  body=$(ls "$spool"/*.bin 2>/dev/null | head -1)
  [ -n "$body" ] || { echo "$name: kubectl sent no body" >&2; exit 1; }
  cp "$body" "$name.pb"
  if [ "$print" = json ]; then
    k --dry-run=client --output=json "$@" > "$name.json"
  fi
  echo "$name: $(sed -n 2p "${body%.bin}.meta")"
}

capture namespace json create namespace demo
capture configmap json create configmap settings --from-literal=mode=fast --from-literal=level=3 -n team
capture secret json create secret generic creds --from-literal=user=admin --from-literal=pass=s3cr3t -n team
capture secret-docker json create secret docker-registry regcred --docker-server=reg.example --docker-username=u --docker-password=p -n team
capture serviceaccount json create serviceaccount builder -n team
capture deployment json create deployment web --image=nginx:1.27 --replicas=3 --port=80 -n team
capture deployment-zero json create deployment idle --image=busybox --replicas=0 -n team -- sleep 3600
capture service json create service clusterip web --tcp=80:8080 -n team
capture service-nodeport json create service nodeport np --tcp=443:https --node-port=30443 -n team
capture role json create role reader --verb=get,list --resource=pods,configmaps -n team
capture rolebinding json create rolebinding reader-binding --role=reader --user=alice --serviceaccount=team:builder -n team
capture clusterrole json create clusterrole node-reader --verb=get --resource=nodes --non-resource-url=/healthz
capture clusterrolebinding json create clusterrolebinding node-reader-binding --clusterrole=node-reader --group=ops
capture quota json create quota compute --hard=cpu=2,memory=1Gi,pods=10 -n team
capture priorityclass json create priorityclass high --value=1000 --description="high priority" --preemption-policy=Never
capture job json create job once --image=busybox -n team -- echo hi
capture cronjob json create cronjob tick --image=busybox --schedule="*/5 * * * *" -n team -- date
capture ingress json create ingress web --rule="foo.example/bar*=web:80,tls=cert" -n team
capture pdb json create poddisruptionbudget web-pdb --selector=app=web --min-available=50% -n team
capture can-i - auth can-i create pods -n team
capture can-i-subresource - auth can-i get pods --subresource=log -n team
capture whoami - auth whoami
capture token - create token builder -n team --duration=10m --audience=api
kubectl version --client | head -1 > kubectl-version.txt
