# Sourced by scripts and benchmarks: start Debian's docker-registry on 127.0.0.1.
#   start_local_registry DIR   (storage, config and log in DIR)
# sets registry_pid and port; the caller stops it (kill "$registry_pid").
start_local_registry() {
  local dir=$1
  port=5000
  while (echo > /dev/tcp/127.0.0.1/$port) 2> /dev/null; do port=$((port + 1)); done
  cat > "$dir/registry.yml" << YAML
version: 0.1
storage:
  filesystem:
    rootdirectory: $dir/registry
http:
  addr: 127.0.0.1:$port
log:
  level: error
YAML
  docker-registry serve "$dir/registry.yml" > "$dir/registry.log" 2>&1 &
  registry_pid=$!
  for _ in $(seq 50); do (echo > /dev/tcp/127.0.0.1/$port) 2> /dev/null && return 0; sleep 0.1; done
  echo "the local registry did not start on 127.0.0.1:$port; see $dir/registry.log" >&2
  return 1
}
