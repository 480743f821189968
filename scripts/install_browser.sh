#!/usr/bin/env bash
# Headless Chromium for the replay viewer's browser tests (tests/test_viewer_browser.py): Debian's
# chromium and its matching chromedriver, and Selenium driving them. No browser is downloaded by a
# driver: the tests point Selenium at /usr/bin/chromium and /usr/bin/chromedriver.
# Run as root (or with sudo) inside the virtual environment the tests use.
set -euo pipefail
SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update
$SUDO apt-get install -y chromium chromium-driver
# selenium 4.52 needs a certifi newer than the package index may hold; 4.51 is the newest that installs.
python -m pip install "selenium>=4.20,<4.52"
chromium --version
chromedriver --version
