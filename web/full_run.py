#!/usr/bin/env python3
"""The by-hand measurement of issue 15: the page trains `fast` on its whole schedule in
headless Chromium (WebGPU), reports the test error on all 10,000 test images, the seconds of
training and the adapter, then reads digits drawn on its canvas with the network it trained.
Called by web/full_run.sh, which builds and serves the page and starts chromedriver. Writes a
screenshot after training and one after the drawings. Exits non-zero when the test error is
not below --max-error or a drawn digit is misread."""

import argparse
import sys
import time

from browser_test import WebDriver, read_drawn_digits, wait_for


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--driver", default="http://127.0.0.1:9516")
    parser.add_argument("--page", default="http://127.0.0.1:8124/")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--max-error", type=float, default=0.02)
    parser.add_argument("--screenshot", required=True)
    parser.add_argument("--timeout", type=float, default=6 * 3600)
    args = parser.parse_args()

    driver = WebDriver(args.driver)
    try:
        started = time.time()
        driver.open(f"{args.page}?model=fast&seed={args.seed}&autostart=1")
        error = float(wait_for(driver, "return document.body.dataset.testError", "training",
                               args.timeout))
        seconds = driver.js("return document.body.dataset.trainSeconds")
        adapter = driver.js("return document.getElementById('adapter').textContent")
        result = driver.js("return document.getElementById('result').textContent")
        user_agent = driver.js("return navigator.userAgent")
        print(f"browser: {user_agent}")
        print(f"adapter: {adapter}")
        print(f"page trained fast (seed {args.seed}), whole schedule: {result}")
        print(f"{seconds} s of training; {time.time() - started:.0f} s from opening the page "
              "to the test error")
        driver.screenshot(args.screenshot)
        print(f"screenshot: {args.screenshot}")
        failed = []
        if not error < args.max_error:
            failed.append(f"test error {100 * error:.2f}%, expected below "
                          f"{100 * args.max_error:.2f}%")
        failed += read_drawn_digits(driver, 300, args.screenshot)
        if failed:
            sys.exit("FAIL: " + "; ".join(failed))
        print("PASS")
    finally:
        driver.quit()


if __name__ == "__main__":
    main()
