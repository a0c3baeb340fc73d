# shellcheck shell=bash
# Sourced by .ci/run and the scripts: puts berth's own Node (scripts/node-runtime.sh) first on
# PATH when it is installed, and points node-gyp at its headers. Does nothing otherwise.
BERTH_NODE_PREFIX=${BERTH_NODE_PREFIX:-$([ "$(id -u)" -eq 0 ] && echo /opt/berth-node || echo "$HOME/.local/berth-node")}
export BERTH_NODE_PREFIX
if [ -x "$BERTH_NODE_PREFIX/bin/node" ]; then
  case "$PATH" in
    "$BERTH_NODE_PREFIX/bin:"*) ;;
    *) PATH="$BERTH_NODE_PREFIX/bin:$PATH" ;;
  esac
  export PATH
  # node-gyp (ssh2's crypto, keytar) builds for this Node from its headers, with no download.
  # node-gyp reads its options from npm_package_config_node_gyp_* (npm 11 warns about an
  # npm_config_nodedir it does not know, on every command).
  if [ -f "$BERTH_NODE_PREFIX/include/node/common.gypi" ]; then
    export npm_package_config_node_gyp_nodedir="$BERTH_NODE_PREFIX"
  fi
fi
