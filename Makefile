# The README's two commands: `make dev` and `make test`.
VERSION ?= v0.1.0-dev
GO      ?= go

.PHONY: all build test lint fmt fmt-check vet staticcheck golangci-lint actionlint test-unit e2e dev vault tools clean bench bench-ab release release-check test-long fuzz

all: build

build:
	scripts/build-plugin bin/vault-plugin-secrets-acquia $(VERSION)
	$(GO) build -trimpath -o bin/acquia-emulator ./cmd/acquia-emulator

## test: every check and test; what CI runs.
test: lint test-unit release-check e2e

lint: fmt-check vet staticcheck golangci-lint actionlint

fmt:
	gofmt -w $$(git ls-files '*.go')

fmt-check:
	@out=$$(gofmt -l $$(git ls-files '*.go')); \
	if [ -n "$$out" ]; then echo "gofmt would change:"; echo "$$out"; exit 1; fi

## vet: also for darwin, which the releases ship: the e2e package keeps
## Linux-only process attributes in a _linux.go file.
vet:
	$(GO) vet ./...
	$(GO) vet -tags e2e ./e2e/...
	GOOS=darwin $(GO) vet -tags e2e ./e2e/...

## staticcheck: the pinned staticcheck (scripts/install-staticcheck, cached
## outside the repo), on every package and the e2e tests.
staticcheck:
	"$$(scripts/install-staticcheck)" ./...
	"$$(scripts/install-staticcheck)" -tags e2e ./e2e/...

## golangci-lint: the pinned golangci-lint (scripts/install-golangci-lint,
## cached outside the repo) with .golangci.yml, on every package and the
## e2e tests.
golangci-lint:
	"$$(scripts/install-golangci-lint)" run ./...
	"$$(scripts/install-golangci-lint)" run --build-tags e2e ./e2e/...

## actionlint: the GitHub workflows, with the pinned actionlint (built once
## by scripts/install-actionlint, cached outside the repo). It runs
## shellcheck on their scripts where shellcheck is installed.
actionlint:
	"$$(scripts/install-actionlint)" .github/workflows/*.yml

test-unit:
	$(GO) test -race -count=1 ./...

## e2e: the real vault, vault agent, OpenTofu and the vault Terraform
## provider (built once by scripts/install-*, cached outside the repo).
e2e: tools
	VAULT_BIN="$$(scripts/install-vault)" TOFU_BIN="$$(scripts/install-tofu)" \
	TF_PROVIDER_VAULT_DIR="$$(scripts/install-terraform-provider-vault)" \
	OIDC_PROVIDER_DIR="$$(scripts/install-oidc-provider)" \
	$(GO) test -tags e2e -count=1 -timeout 30m ./e2e/...

## test-long: reliability runs on the real vault (e2e/long_*_test.go), about
## 7 minutes on two cores: a fault storm, a crash and restart on file and
## raft storage, a three-node raft cluster losing its leader, an upgrade
## with live leases; then one table of counts. Not part of make test.
test-long: vault
	@table="$$(mktemp)"; trap 'rm -f "$$table"' EXIT; \
	ACQUIA_LONG=1 ACQUIA_LONG_TABLE="$$table" VAULT_BIN="$$(scripts/install-vault)" \
	  $(GO) test -tags e2e -run '^TestLong$$' -count=1 -timeout 25m -v ./e2e/; \
	status=$$?; echo; echo "make test-long:"; cat "$$table"; exit $$status

## fuzz: every Fuzz target of every package for FUZZTIME each (default
## 60s), one after another. A crash stops it, with the input written to
## the package's testdata/fuzz/; make test runs those corpora already.
## Then the stateful test for STATEFUL_CHECKS random sequences (make test
## runs rapid's default, 100).
FUZZTIME ?= 60s
STATEFUL_CHECKS ?= 5000
fuzz:
	@for pkg in $$($(GO) list ./...); do \
	  for name in $$($(GO) test -list '^Fuzz' "$$pkg" | grep '^Fuzz'); do \
	    echo "== $$name ($$pkg) for $(FUZZTIME)"; \
	    $(GO) test -run '^$$' -fuzz "^$$name$$" -fuzztime $(FUZZTIME) "$$pkg" || exit 1; \
	  done; \
	done
	@echo "== TestStateful for $(STATEFUL_CHECKS) sequences"
	$(GO) test -count=1 -run '^TestStateful$$' -timeout 60m ./backend/ -args -rapid.checks=$(STATEFUL_CHECKS)

vault:
	@scripts/install-vault >/dev/null

## tools: build the pinned vault, tofu, terraform-provider-vault,
## actionlint, staticcheck and golangci-lint once, one after another (each
## build takes both cores).
tools: vault
	@scripts/install-tofu >/dev/null
	@scripts/install-terraform-provider-vault >/dev/null
	@scripts/install-actionlint >/dev/null
	@scripts/install-staticcheck >/dev/null
	@scripts/install-golangci-lint >/dev/null
	@scripts/install-oidc-provider >/dev/null || echo "no oidc-provider (needs node and npm): its e2e test will skip" >&2

dev:
	scripts/dev

clean:
	rm -rf bin dist

## release: linux/darwin amd64/arm64 binaries and SHA256SUMS in dist/.
release:
	@case "$(origin VERSION)" in command\ line|environment) ;; \
	  *) echo "make release needs VERSION, e.g. make release VERSION=v0.1.0" >&2; exit 2 ;; esac
	VERSION=$(VERSION) scripts/release

## release-check: what make release does, for one darwin target, into a
## temporary directory: a release tag finds the path working.
release-check:
	@dist="$$(mktemp -d)"; trap 'rm -rf "$$dist"' EXIT; \
	DIST="$$dist" TARGETS=darwin/arm64 VERSION=v0.0.0-release-check scripts/release >/dev/null && \
	(cd "$$dist" && sha256sum --quiet -c SHA256SUMS && \
	  test "$$(cut -d' ' -f3 SHA256SUMS)" = vault-plugin-secrets-acquia_v0.0.0-release-check_darwin_arm64)

## bench: the plugin's figures through a real vault on file storage, each
## beside a floor measured in the same run (a minimal plugin, a direct
## upstream call, KV reads) and its goal; the table is also written to
## bench/results.json. Then mass revocation (revoke -prefix of 300 to
## 10,000 leases of one config, and of 1,000 over 500 configs) on file and
## raft storage, to bench/revoke.json. Then the in-process hot path and
## revoke (go test -bench).
bench: vault
	ACQUIA_BENCH=1 VAULT_BIN="$$(scripts/install-vault)" $(GO) test -tags e2e -run '^TestBenchTable$$' -count 1 -timeout 15m -v ./e2e/
	ACQUIA_BENCH=1 VAULT_BIN="$$(scripts/install-vault)" $(GO) test -tags e2e -run '^TestBenchRevoke$$' -count 1 -timeout 30m -v ./e2e/
	$(GO) test -run '^$$' -bench . -benchmem -benchtime 2000x -count 1 ./backend/

## bench-ab: whether a build of the plugin revokes faster or slower than
## this tree's, side by side on one vault in paired rounds, with the
## rounds' spread beside it: make bench-ab AB=path/to/plugin (AB=same: this
## build twice, the noise alone); AB_ENV sets the candidate's environment.
bench-ab: vault
	ACQUIA_BENCH=1 ACQUIA_BENCH_AB="$(AB)" ACQUIA_BENCH_AB_ENV="$(AB_ENV)" VAULT_BIN="$$(scripts/install-vault)" \
		$(GO) test -tags e2e -run '^TestBenchRevokeAB$$' -count 1 -timeout 30m -v ./e2e/
