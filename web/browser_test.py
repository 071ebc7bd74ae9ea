#!/usr/bin/env python3
"""Drives the web page in headless Chromium through WebDriver (chromedriver), standard library
only. Called by web/test.sh, which builds the page, serves it and starts chromedriver.

Checks, each failing the script with a message:
1. the page trains `fast` for --steps steps on WebGPU and evaluates all 10,000 test images;
   the test error must be below --max-error (chance is 90%);
2. --compare-steps training steps on the page's GPU agree with the CPU executor compiled into
   the page (losses, correct counts, parameters; same batches, rates and initial parameters);
3. with a checkpoint trained by the CLI loaded through the page's file input, digits drawn on
   the canvas with pointer strokes are classified as the digits they are;
4. a screenshot of the page after training is written to --screenshot, and one after the
   drawings beside it (`-drawn.png`);
5. every check of native `shadernet verify` runs in the page (GPU kernels against the CPU
   reference compiled to wasm) and passes: as many checks as --verify-checks says native
   verify ran.
"""

import argparse
import base64
import json
import sys
import time
import urllib.request

CHROME_ARGS = [
    "--headless=new",
    "--no-sandbox",
    "--enable-unsafe-webgpu",
    "--enable-features=Vulkan",
    "--use-vulkan=swiftshader",
    "--use-angle=swiftshader",
    "--window-size=900,1300",
]


class WebDriver:
    """The few WebDriver commands the checks need, over HTTP."""

    def __init__(self, url):
        self.url = url.rstrip("/")
        caps = {"capabilities": {"alwaysMatch": {
            "browserName": "chrome",
            "goog:chromeOptions": {"args": CHROME_ARGS},
        }}}
        self.session = self.call("POST", "/session", caps)["sessionId"]

    def call(self, method, path, body=None):
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(self.url + path, data=data, method=method,
                                         headers={"Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(request, timeout=600) as response:
                return json.loads(response.read())["value"]
        except urllib.error.HTTPError as e:
            raise RuntimeError(f"WebDriver {method} {path}: {e.read().decode()[:500]}") from e

    def cmd(self, method, path, body=None):
        return self.call(method, f"/session/{self.session}{path}", body)

    def open(self, url):
        self.cmd("POST", "/url", {"url": url})

    def js(self, script, *args):
        return self.cmd("POST", "/execute/sync", {"script": script, "args": list(args)})

    def element(self, css):
        found = self.cmd("POST", "/element", {"using": "css selector", "value": css})
        return next(iter(found.values()))

    def send_keys(self, css, text):
        self.cmd("POST", f"/element/{self.element(css)}/value", {"text": text})

    def strokes(self, css, paths):
        """Draws each path (a list of (x, y) in CSS pixels from the element's centre) as one
        pointer stroke: down at the first point, moves through the rest, up."""
        origin = {"element-6066-11e4-a52e-4f735466cecf": self.element(css)}
        actions = []
        for path in paths:
            (x0, y0), rest = path[0], path[1:]
            actions.append({"type": "pointerMove", "duration": 0, "origin": origin,
                            "x": x0, "y": y0})
            actions.append({"type": "pointerDown", "button": 0})
            for x, y in rest:
                actions.append({"type": "pointerMove", "duration": 20, "origin": origin,
                                "x": x, "y": y})
            actions.append({"type": "pointerUp", "button": 0})
        self.cmd("POST", "/actions", {"actions": [{
            "type": "pointer", "id": "mouse", "parameters": {"pointerType": "mouse"},
            "actions": actions,
        }]})
        self.cmd("DELETE", "/actions")

    def screenshot(self, path):
        with open(path, "wb") as f:
            f.write(base64.b64decode(self.cmd("GET", "/screenshot")))

    def quit(self):
        self.call("DELETE", f"/session/{self.session}")


def wait_for(driver, script, what, timeout):
    """Polls `script` until it returns something truthy; fails with the page's status text."""
    start = time.time()
    while time.time() - start < timeout:
        value = driver.js(script)
        if value:
            return value
        state = driver.js("return document.body.dataset.state")
        if state in ("error", "no-webgpu"):
            break
        time.sleep(1)
    status = driver.js("return document.getElementById('status').textContent")
    sys.exit(f"FAIL: {what}: page state {driver.js('return document.body.dataset.state')!r}, "
             f"status {status!r} after {time.time() - start:.0f} s")


def read_drawn_digits(driver, timeout, screenshot):
    """Draws a 1, a 0 and a 7 on the cleared pad with pointer strokes, waits for the page's
    reading of each (printing its probabilities), saves a screenshot after the 7 next to
    `screenshot` (`-drawn.png`), and returns the misreadings, one message each."""
    failed = []
    for digit in (1, 0, 7):
        driver.js("document.getElementById('clear').click()")
        driver.strokes("#pad", digit_strokes(digit))
        got = wait_for(driver, "return document.body.dataset.prediction", f"drawn {digit}",
                       timeout)
        bars = driver.js("return document.getElementById('prediction').textContent")
        print(f"drew a {digit}: {bars}")
        if int(got) != digit:
            failed.append(f"drew a {digit}, the page read a {got}")
    drawn = screenshot.replace(".png", "-drawn.png")
    driver.screenshot(drawn)
    print(f"screenshot after the drawn 7: {drawn}")
    return failed


def digit_strokes(digit):
    """Pointer paths of a hand-drawn digit on the 280x280 pad, centred."""
    if digit == 1:
        return [[(0, -90), (0, -30), (0, 30), (0, 90)]]
    if digit == 0:
        import math
        return [[(int(55 * math.sin(t / 12 * 2 * math.pi)), int(-85 * math.cos(t / 12 * 2 * math.pi)))
                 for t in range(13)]]
    if digit == 7:
        return [[(-60, -80), (60, -80), (30, -20), (0, 40), (-15, 90)]]
    raise ValueError(digit)


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--driver", default="http://127.0.0.1:9515")
    parser.add_argument("--page", default="http://127.0.0.1:8000/")
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--max-error", type=float, default=0.5)
    parser.add_argument("--checkpoint", required=True, help="a .safetensors written by train")
    parser.add_argument("--screenshot", required=True)
    parser.add_argument("--timeout", type=float, default=900)
    parser.add_argument("--compare-steps", type=int, default=3)
    parser.add_argument("--verify-checks", type=int, required=True,
                        help="how many checks native `shadernet verify` runs")
    args = parser.parse_args()

    driver = WebDriver(args.driver)
    try:
        # 1. Train in the page.
        started = time.time()
        driver.open(f"{args.page}?model=fast&seed=1&steps={args.steps}&autostart=1")
        error = wait_for(driver, "return document.body.dataset.testError", "training", args.timeout)
        seconds = driver.js("return document.body.dataset.trainSeconds")
        adapter = driver.js("return document.getElementById('adapter').textContent")
        result = driver.js("return document.getElementById('result').textContent")
        print(f"page trained fast for {args.steps} steps: {result} "
              f"[{adapter}; {time.time() - started:.0f} s with loading]")
        if not float(error) < args.max_error:
            sys.exit(f"FAIL: test error {float(error):.4f} after {args.steps} steps, "
                     f"expected below {args.max_error}")
        driver.screenshot(args.screenshot)
        print(f"screenshot of the trained page: {args.screenshot} ({seconds} s of training)")

        # 2. A few steps on the page's GPU against the CPU executor compiled to wasm.
        driver.js(f"window.shadernetCompare({args.compare_steps})")
        report = json.loads(wait_for(driver, "return document.body.dataset.agreement",
                                     "GPU-vs-CPU steps", args.timeout))
        print(f"{args.compare_steps} training steps in the page, GPU against the CPU executor: "
              f"{json.dumps(report)}")
        if "error" in report or not report["pass"]:
            sys.exit("FAIL: the page's GPU steps disagree with the CPU executor")

        # 3. A checkpoint trained by the CLI, and drawn digits.
        driver.open(args.page)
        wait_for(driver, "return document.body.dataset.state === 'ready'", "page load", 120)
        driver.send_keys("#checkpoint", args.checkpoint)
        error = wait_for(driver, "return document.body.dataset.testError", "checkpoint", args.timeout)
        print(f"checkpoint {args.checkpoint} in the page: test error {100 * float(error):.2f}%")
        failed = read_drawn_digits(driver, 120, args.screenshot)
        if failed:
            sys.exit("FAIL: " + "; ".join(failed))

        # 5. native verify's checks in the browser.
        started = time.time()
        driver.js("document.getElementById('verify').click()")
        summary = json.loads(wait_for(driver, "return document.body.dataset.verify", "verify",
                                      args.timeout))
        text = driver.js("return document.getElementById('verify-result').textContent")
        print(f"verify in the page ({time.time() - started:.0f} s): {text}")
        if "error" in summary:
            sys.exit(f"FAIL: verify in the page: {summary['error']}")
        if summary["checks"] != args.verify_checks or summary["passed"] != summary["checks"]:
            sys.exit(f"FAIL: {summary['passed']} of {summary['checks']} checks passed in the "
                     f"page; native verify runs {args.verify_checks}, all of which must pass")
        print("PASS: the page trains on WebGPU, loads a CLI checkpoint, reads drawn digits and "
              "passes every check of native verify")
    finally:
        driver.quit()


if __name__ == "__main__":
    main()
