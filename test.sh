#!/usr/bin/env bash
# Runs the whole test suite on a fresh machine. Installs what the tests need when it can (root + apt),
# otherwise says exactly what is missing; then checks formatting, builds and runs every test against
# real components (a throwaway PostgreSQL cluster started by the test fixtures).
set -euo pipefail
cd "$(dirname "$0")"

say() { printf '==> %s\n' "$*"; }
die() { printf 'test.sh: %s\n' "$*" >&2; exit 1; }

apt_updated=""
can_apt() { [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; }
apt_install() {
  if [ -z "$apt_updated" ]; then apt-get update -qq >/dev/null; apt_updated=1; fi
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@" >/dev/null
}

# .NET 10 SDK
command -v dotnet >/dev/null 2>&1 || die ".NET 10 SDK not found: install it (https://dot.net/download) and re-run."
dotnet --list-sdks | grep -q '^10\.' || die ".NET 10 SDK required; found: $(dotnet --list-sdks | tr '\n' ' ')"

# PostgreSQL server binaries (initdb, pg_ctl), used by the embedded launcher and the test fixtures.
has_postgres() {
  local bindir
  bindir="$(pg_config --bindir 2>/dev/null || true)"
  if [ -n "$bindir" ] && [ -x "$bindir/initdb" ] && [ -x "$bindir/pg_ctl" ]; then return 0; fi
  compgen -G '/usr/lib/postgresql/*/bin/initdb' >/dev/null
}
if ! has_postgres; then
  if can_apt; then
    say "installing PostgreSQL server binaries (apt-get install postgresql)"
    apt_install postgresql
  else
    die "PostgreSQL server binaries (initdb, pg_ctl) not found: install them (Debian/Ubuntu: sudo apt-get install postgresql) and re-run."
  fi
fi
if [ "$(id -u)" = 0 ]; then
  # initdb and postgres refuse root; the launcher runs them as the postgres system user.
  id postgres >/dev/null 2>&1 || die "running as root needs the 'postgres' system user (Debian: apt-get install postgresql)."
  command -v runuser >/dev/null 2>&1 || die "runuser not found (Debian: apt-get install util-linux)."
fi

# PgBouncer 1.18+ (Debian's pgbouncer) for the PgBouncer tests and the subset run through it in transaction mode
# (the fixtures start it on a free port; ADR 0034). Treated like PostgreSQL: installed when root + apt, else a hard stop.
if ! command -v pgbouncer >/dev/null 2>&1; then
  if can_apt; then
    say "installing PgBouncer (apt-get install pgbouncer)"
    apt_install pgbouncer
    # Installed for its binary only: do not leave Debian's own PgBouncer service running on :6432.
    if [ -d /run/systemd/system ]; then systemctl disable --now pgbouncer >/dev/null 2>&1 || true; fi
  else
    die "pgbouncer not found: install it (Debian/Ubuntu: sudo apt-get install pgbouncer) and re-run (the suite runs a named subset through PgBouncer in transaction mode)."
  fi
fi
command -v psql >/dev/null 2>&1 || die "psql not found (Debian: apt-get install postgresql-client): the PgBouncer tests read its admin console with it."

# A real S3-compatible server for the S3 provider's tests (the fixtures start it on a free port).
if ! command -v moto_server >/dev/null 2>&1; then
  if command -v pip3 >/dev/null 2>&1 && pip3 install -q 'moto[server]' >/dev/null 2>&1 && command -v moto_server >/dev/null 2>&1; then
    say "installed moto_server (pip3 install 'moto[server]')"
  else
    die "moto_server not found: install it with pip3 install 'moto[server]' (the S3 storage tests need a real S3-compatible server)."
  fi
fi

# Debian's Chromium for the browser tests (tests/Dms.EndToEnd drive it through Playwright's ExecutablePath;
# no browser is ever downloaded).
if ! command -v chromium >/dev/null 2>&1 && [ -z "${DMS_CHROMIUM:-}" ]; then
  if can_apt; then
    say "installing Chromium for the browser tests (apt-get install chromium)"
    apt_install chromium
  else
    die "Chromium not found: install it (Debian/Ubuntu: sudo apt-get install chromium) or set DMS_CHROMIUM to its path, and re-run."
  fi
fi
mkdir -p TestResults/e2e

# Text extraction, OCR and previews run these tools as child processes (the product disables a kind of extraction
# or preview when its tool is missing; the tests need them all). prlimit (util-linux) sets their memory cap.
missing_tools=()
for tool in pdftotext:poppler-utils pdftoppm:poppler-utils tesseract:tesseract-ocr vips:libvips-tools \
            soffice:libreoffice-writer-nogui prlimit:util-linux; do
  command -v "${tool%%:*}" >/dev/null 2>&1 || missing_tools+=("${tool#*:}")
done
[ -f /usr/share/tesseract-ocr/5/tessdata/eng.traineddata ] || compgen -G '/usr/share/tesseract-ocr/*/tessdata/eng.traineddata' >/dev/null || missing_tools+=(tesseract-ocr-eng)
if [ "${#missing_tools[@]}" -gt 0 ]; then
  if can_apt; then
    say "installing extraction and preview tools (apt-get install ${missing_tools[*]} and the LibreOffice calc/impress filters)"
    apt_install "${missing_tools[@]}" tesseract-ocr-eng libreoffice-calc-nogui libreoffice-impress-nogui
  else
    die "missing tools for text extraction and previews: ${missing_tools[*]} (Debian/Ubuntu: sudo apt-get install poppler-utils tesseract-ocr tesseract-ocr-eng libvips-tools libreoffice-writer-nogui libreoffice-calc-nogui libreoffice-impress-nogui) and re-run."
  fi
fi

# promtool (Debian's prometheus package) validates the alert and recording rules and runs their unit tests
# (deploy/prometheus/tests); the server binary from the same package is started by the tests that scrape a node.
if ! command -v promtool >/dev/null 2>&1; then
  if can_apt; then
    say "installing promtool (apt-get install prometheus)"
    apt_install prometheus
    # Installed for its binaries only: do not leave Debian's own Prometheus service running on :9090.
    if [ -d /run/systemd/system ]; then systemctl disable --now prometheus >/dev/null 2>&1 || true; fi
  else
    die "promtool not found: install it (Debian/Ubuntu: sudo apt-get install prometheus) and re-run."
  fi
fi
say "checking the Prometheus rules (promtool check config/rules, promtool test rules)"
promtool_run() {
  local out
  out="$("$@" 2>&1)" || { printf '%s\n' "$out" >&2; die "failed: $*"; }
}
promtool_run promtool check config deploy/prometheus/prometheus.yml
promtool_run promtool check rules deploy/prometheus/recording.yml deploy/prometheus/alerts.yml
promtool_run promtool test rules deploy/prometheus/tests/*.yml

say "checking formatting (dotnet format --verify-no-changes)"
dotnet format Dms.slnx --verify-no-changes

say "building (warnings are errors)"
dotnet build Dms.slnx -c Release -nologo -v quiet

say "running the test suite"
mkdir -p TestResults
# Every in-process test app logs every line at Information and above here (tests/Dms.Tests/Infrastructure/RunLog.cs);
# after the suite the whole run's log is scanned for secrets.
rm -rf TestResults/app-logs
export DMS_TEST_APP_LOGS="$PWD/TestResults/app-logs"
set +e
dotnet test Dms.slnx -c Release --no-build --nologo \
  --logger "trx;LogFileName=dms-tests.trx" --results-directory TestResults 2>&1 | tee TestResults/test-output.log
status=${PIPESTATUS[0]}
set -e

# The named PgBouncer subset (docs/operations.md, "PgBouncer"): the same tests again with every test app's runtime
# connection through a PgBouncer in transaction mode, session-level work on the direct connection (ADR 0034).
pgbouncer_subset=(
  Dms.Tests.PgBouncer.
  Dms.Tests.Api.DocumentTests Dms.Tests.Api.DocumentListTests Dms.Tests.Api.SearchTests
  Dms.Tests.Api.RowLevelSecurityTests Dms.Tests.Api.TenantIsolationTests Dms.Tests.Api.IdempotencyTests
  Dms.Tests.Storage.DirectUploadTests
  Dms.Tests.Approvals.ApprovalTests Dms.Tests.Approvals.ApprovalConcurrencyTests
  Dms.Tests.Audit.AuditTrailTests
  Dms.Tests.Seats.SeatRaceTests Dms.Tests.Quota.StorageQuotaTests Dms.Tests.Billing.SubscriptionGateTests
  Dms.Tests.Caching.CrossNodeCacheTests
)
pgbouncer_filter="$(printf 'FullyQualifiedName~%s|' "${pgbouncer_subset[@]}")"
say "running the PgBouncer subset (transaction pooling, DMS_TEST_PGBOUNCER=1)"
set +e
DMS_TEST_PGBOUNCER=1 dotnet test tests/Dms.Tests -c Release --no-build --nologo --filter "${pgbouncer_filter%|}" \
  --logger "trx;LogFileName=dms-tests-pgbouncer.trx" --results-directory TestResults 2>&1 | tee TestResults/test-output-pgbouncer.log
pgbouncer_status=${PIPESTATUS[0]}
set -e
[ "$status" -ne 0 ] || status=$pgbouncer_status

# One plain summary line over every test project: "N passed, N failed, N skipped".
summary() {
  awk '
    /(Passed|Failed)! +- +Failed:/ {
      gsub(",", "");
      for (i = 1; i <= NF; i++) {
        if ($i == "Failed:") f += $(i + 1);
        if ($i == "Passed:") p += $(i + 1);
        if ($i == "Skipped:") s += $(i + 1);
      }
      seen = 1
    }
    END { if (seen) printf "%d passed, %d failed, %d skipped\n", p, f, s; else print "0 passed, 1 failed (no test summary found)" }
  ' "$1"
}
summary TestResults/test-output.log
printf 'PgBouncer subset: '
summary TestResults/test-output-pgbouncer.log

# No token, password or signed URL in any log line of the whole run: JWTs and signed-URL tokens (eyJ….…), personal
# tokens (dms_pat_…), the tests' generated passwords (pw-<32 hex>), S3 signatures.
say "scanning the test apps' logs for secrets"
secret_pattern='eyJ[A-Za-z0-9_-]{10,}\.[A-Za-z0-9_-]{10,}|dms_pat_[A-Za-z0-9_]{8,}|pw-[0-9a-f]{32}|X-Amz-Signature='
if compgen -G 'TestResults/app-logs/*.log' >/dev/null; then
  printf '%s log lines scanned\n' "$(cat TestResults/app-logs/*.log | wc -l)"
  if grep -E -n "$secret_pattern" TestResults/app-logs/*.log | cut -c1-300 | head -5 | grep .; then
    echo "test.sh: a token, password or signed URL was logged (above)" >&2
    exit 1
  fi
fi
exit "$status"
