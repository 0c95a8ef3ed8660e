# Sourced by the scripts: the tool cache, the project's Go version and
# module path (both read from go.mod, so they are written once), the
# plugin's link flags, and how a pinned tool is built once into the cache.
# Tools are built from the Go module proxy; nothing else is downloaded.

REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
CACHE_DIR="${ACQUIA_TOOLS_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/vault-plugin-secrets-acquia}"
GO_VERSION="$(sed -n 's/^go //p' "$REPO_ROOT/go.mod")"
MODULE="$(sed -n 's/^module //p' "$REPO_ROOT/go.mod")"

# build_plugin OUT VERSION [LDFLAGS]: the plugin binary with VERSION linked
# in (GOOS/GOARCH from the environment).
build_plugin() {
  local out="$1" version="$2" extra="${3:-}"
  (cd "$REPO_ROOT" && CGO_ENABLED=0 go build -trimpath \
    -ldflags "$extra -X $MODULE/backend.Version=$version" -o "$out" ./cmd/vault-plugin-secrets-acquia)
}

# cached BIN [CHECK-ARGS...]: print BIN and leave the script when it is
# there (and, given CHECK-ARGS, runs).
cached() {
  local bin="$1"
  shift
  if [ -x "$bin" ] && { [ $# -eq 0 ] || "$bin" "$@" >/dev/null 2>&1; }; then
    echo "$bin"
    exit 0
  fi
}

# install_go_tool PKG@VERSION BIN: `go install` a tool into a scratch
# directory in the cache, then rename it to BIN: the rename is atomic, so
# runs building at once never see, or clobber, a half-written binary.
install_go_tool() {
  local pkg="$1" bin="$2" tmp
  mkdir -p "$CACHE_DIR" "$(dirname "$bin")"
  tmp="$(mktemp -d "$CACHE_DIR/build.XXXXXX")"
  echo "building ${pkg##*/} (once; cached at $bin)" >&2
  if ! CGO_ENABLED=0 GOBIN="$tmp" go install -trimpath -ldflags='-s -w' "$pkg" >&2; then
    rm -rf "$tmp"
    return 1
  fi
  mv -f "$tmp/$(basename "${pkg%@*}")" "$bin"
  rm -rf "$tmp"
}

# build_in_module PKG VERSION BIN GOMOD-LINES: build PKG@VERSION in a
# throw-away module whose go.mod carries GOMOD-LINES: Go ignores a
# dependency's replace and godebug lines, so a tool that needs its own is
# built with them copied here.
build_in_module() {
  local pkg="$1" version="$2" bin="$3" lines="$4" work
  mkdir -p "$CACHE_DIR"
  work="$(mktemp -d "$CACHE_DIR/build.XXXXXX")"
  echo "building ${pkg##*/} $version (minutes on 2 cores, once; cached at $bin)" >&2
  if ! (cd "$work" &&
    printf 'module tool\n\ngo %s\n\n%s\n' "$GO_VERSION" "$lines" > go.mod &&
    go get -tool "$pkg@$version" >&2 &&
    CGO_ENABLED=0 go build -trimpath -ldflags='-s -w' -o "$work/out" "$pkg" >&2); then
    rm -rf "$work"
    return 1
  fi
  mv -f "$work/out" "$bin"
  rm -rf "$work"
}
