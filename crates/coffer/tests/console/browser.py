"""The web console in a real browser (headless Chromium through its WebDriver, selenium).

Run by crates/coffer/tests/console.rs against a `coffer serve --dev` with the audit trail on:
    python3 browser.py ENDPOINT SCREENSHOT_DIR_OR_EMPTY
Prints one JSON line of findings; exits non-zero with the reason on the first failed check.
"""
import json
import os
import sys
import urllib.error
import urllib.request

import boto3
from selenium import webdriver
from selenium.common.exceptions import StaleElementReferenceException, WebDriverException
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import Select, WebDriverWait

endpoint, shots = sys.argv[1], sys.argv[2]
ui = endpoint + "/_coffer/ui"
PRIMARY, REPLICA = "eu-central-1", "eu-west-1"
VALUE = "console-s3cr3t-value-7f1e"
SECRET = "console/db-password"
CSP = "default-src 'none'"


def fail(why):
    print(json.dumps({"ok": False, "why": why}), flush=True)
    sys.exit(1)


def check(cond, why):
    if not cond:
        fail(why)


# A user whose policy allows KMS reads only: the console must refuse it Secrets Manager.
iam = boto3.client("iam", endpoint_url=endpoint, region_name="us-east-1",
                   aws_access_key_id="test", aws_secret_access_key="test")
iam.create_user(UserName="console-kms-reader")
iam.put_user_policy(UserName="console-kms-reader", PolicyName="kms-read", PolicyDocument=json.dumps({
    "Version": "2012-10-17",
    "Statement": [{"Effect": "Allow", "Action": ["kms:List*", "kms:Describe*", "kms:Get*"], "Resource": "*"}],
}))
reader = iam.create_access_key(UserName="console-kms-reader")["AccessKey"]
iam.create_role(RoleName="console-workload", AssumeRolePolicyDocument=json.dumps({
    "Version": "2012-10-17",
    "Statement": [{"Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::000000000000:root"}, "Action": "sts:AssumeRole"}],
}))
decrypt = iam.create_policy(PolicyName="console-decrypt", PolicyDocument=json.dumps({
    "Version": "2012-10-17",
    "Statement": [{"Effect": "Allow", "Action": "kms:Decrypt", "Resource": "*"}],
}))["Policy"]
iam.attach_role_policy(RoleName="console-workload", PolicyArn=decrypt["Arn"])

opts = webdriver.ChromeOptions()
for a in ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--window-size=1280,1000"]:
    opts.add_argument(a)
opts.set_capability("goog:loggingPrefs", {"browser": "ALL"})
binary = os.environ.get("CHROMIUM_BINARY", "/usr/bin/chromium")
if os.path.exists(binary):
    opts.binary_location = binary
driver_path = os.environ.get("CHROMEDRIVER", "/usr/bin/chromedriver")
driver = webdriver.Chrome(service=Service(driver_path), options=opts)
seen = []


def visit_done(expect_refusal=False):
    """Checks the page just loaded: no JavaScript error, no failed load (but the page itself
    when it is an expected refusal)."""
    seen.append(driver.current_url)
    for entry in driver.get_log("browser"):
        own = entry.get("message", "").startswith(driver.current_url + " - Failed to load resource")
        if expect_refusal and own:
            continue
        if entry.get("level") == "SEVERE":
            notices = [n.text for n in driver.find_elements(By.CSS_SELECTOR, ".notice.error")]
            fail(f"browser error on {driver.current_url}: {entry.get('message')} {notices}")


def no_value(where):
    check(VALUE not in driver.page_source, f"the secret value appears without a reveal on {where}")


def shot(name):
    if shots:
        driver.save_screenshot(os.path.join(shots, name + ".png"))


def gone(element):
    """A wait condition: `element` has left the document (the answer to a form is a new one).
    Chrome reports a node detached mid-check either as stale or as an inspector error ("Node
    with given id does not belong to the document"); both mean it is gone."""
    def detached(_):
        try:
            element.is_enabled()
            return False
        except (StaleElementReferenceException, WebDriverException):
            return True
    return detached


def sign_in(ak, sk):
    driver.get(ui + "/sign-in")
    driver.find_element(By.ID, "ak").send_keys(ak)
    driver.find_element(By.ID, "sk").send_keys(sk)
    button = driver.find_element(By.CSS_SELECTOR, "form button[type=submit]")
    button.click()
    WebDriverWait(driver, 30).until(gone(button))
    visit_done()


def submit(form_action_suffix):
    forms = [f for f in driver.find_elements(By.TAG_NAME, "form")
             if (f.get_attribute("action") or "").endswith(form_action_suffix)]
    check(forms, f"no form posting to …{form_action_suffix} on {driver.current_url}")
    forms[0].find_element(By.CSS_SELECTOR, "button[type=submit]").click()
    # The answer is a new document: wait until the old one is gone.
    WebDriverWait(driver, 30).until(gone(forms[0]))
    visit_done()


try:
    driver.get(ui + "/sign-in")
    visit_done()
    shot("sign-in")
    sign_in("test", "test")
    check("/keys" in driver.current_url, f"sign-in did not land on the keys page: {driver.current_url}")

    # 1. A multi-Region key with rotation and an alias, in eu-central-1.
    driver.get(f"{ui}/{PRIMARY}/keys/new")
    visit_done()
    driver.find_element(By.ID, "desc").send_keys("secrets manager key")
    driver.find_element(By.ID, "alias").send_keys("alias/eu-central-1-secrets-manager")
    driver.find_element(By.NAME, "multi_region").click()
    driver.find_element(By.NAME, "rotation").click()
    submit("/keys/new")
    key_url = driver.current_url.split("?")[0]
    key_id = key_url.rsplit("/", 1)[1]
    check(key_id.startswith("mrk-"), f"not a multi-Region key: {key_id}")
    check("Enabled" in driver.page_source, "the key page does not say Enabled")

    # 2. Its replica in eu-west-1.
    Select(driver.find_element(By.ID, "replica-region")).select_by_value(REPLICA)
    submit("/replicate")
    check("Replica created." in driver.page_source, "replicating said nothing")
    family = driver.find_element(By.CSS_SELECTOR, "figure.family svg")
    check(REPLICA in family.get_attribute("innerHTML"), "the family picture lacks the replica")
    shot("key")

    driver.get(f"{ui}/{PRIMARY}/keys")
    visit_done()
    check(key_id in driver.page_source, "the key list lacks the key")
    shot("keys")

    # 3. A secret under the key, replicated under the replica.
    driver.get(f"{ui}/{PRIMARY}/secrets/new")
    visit_done()
    driver.find_element(By.ID, "name").send_keys(SECRET)
    driver.find_element(By.ID, "value").send_keys(VALUE)
    driver.find_element(By.ID, "key").send_keys("alias/eu-central-1-secrets-manager")
    Select(driver.find_element(By.ID, "rr")).select_by_value(REPLICA)
    driver.find_element(By.ID, "rk").send_keys(key_id)
    submit("/secrets/new")
    check("Secret created." in driver.page_source, f"creating the secret failed: {driver.page_source[:2000]}")
    no_value("the secret's page")
    check(REPLICA in driver.page_source, "the secret page lacks its replica")
    secret_url = driver.current_url.split("&done")[0]
    shot("secret")

    # 4. Revealing needs the explicit click and shows the value.
    submit("/secret/reveal")
    check(VALUE in driver.page_source, "revealing did not show the value")
    shot("secret-revealed")
    # Reloading the page (a GET) hides it again.
    driver.get(secret_url)
    visit_done()
    no_value("the secret's page after a reveal")

    # The replica in eu-west-1 lists the secret.
    driver.get(f"{ui}/{REPLICA}/secrets")
    visit_done()
    check(SECRET in driver.page_source, "the replica Region does not list the secret")
    no_value("the replica's secret list")
    shot("secrets")

    # 5. The reveal is in the audit trail, made by the console.
    driver.get(f"{ui}/{PRIMARY}/audit?attr=EventName&value=GetSecretValue")
    visit_done()
    check("GetSecretValue" in driver.page_source, "the audit view lacks the GetSecretValue event")
    check("coffer-console/" in driver.page_source, "the audit record's userAgent does not name the console")
    no_value("the audit view")
    shot("audit")
    # The sign-in itself is CloudTrail's ConsoleLogin, recorded in us-east-1 as AWS does.
    driver.get(f"{ui}/us-east-1/audit?attr=EventName&value=ConsoleLogin")
    visit_done()
    check("ConsoleLogin" in driver.page_source and "coffer-console/" in driver.page_source,
          "the audit view lacks the console's ConsoleLogin event")

    # IAM, read-only: the role, its trust policy, its managed policy's document.
    driver.get(ui + "/iam")
    visit_done()
    check("console-workload" in driver.page_source and "console-decrypt" in driver.page_source,
          "the IAM page lacks the role or the policy")
    shot("iam")
    driver.get(ui + "/iam/role?name=console-workload")
    visit_done()
    check("sts:AssumeRole" in driver.page_source and "console-decrypt" in driver.page_source,
          "the role page lacks its trust policy or attached policy")
    driver.find_element(By.LINK_TEXT, "console-decrypt").click()
    visit_done()
    check("kms:Decrypt" in driver.page_source, "the policy page lacks its document")

    driver.get(ui + "/health")
    visit_done()
    shot("health")

    # Narrow screen: still usable (no horizontal page scroll beyond tables).
    driver.set_window_size(360, 900)
    driver.get(f"{ui}/{PRIMARY}/keys")
    visit_done()
    width = driver.execute_script("return document.documentElement.scrollWidth")
    check(width <= 400, f"the keys page is {width}px wide at a 360px window")
    driver.set_window_size(1280, 1000)

    # Every page seen carries the CSP and is not cached (fetched again with the session's cookie).
    cookie = "; ".join(f"{c['name']}={c['value']}" for c in driver.get_cookies())
    for url in seen:
        req = urllib.request.Request(url, headers={"Cookie": cookie})
        try:
            resp = urllib.request.urlopen(req)
            headers, body = resp.headers, resp.read()
        except urllib.error.HTTPError as e:
            headers, body = e.headers, e.read()
        check((headers.get("Content-Security-Policy") or "").startswith(CSP), f"no CSP on {url}")
        check(headers.get("Cache-Control") == "no-store", f"{url} may be cached")
        check(len(body) < 100_000, f"{url} is {len(body)} bytes")
        check(VALUE.encode() not in body, f"{url} answers the secret value on a GET")

    # Sign out; the KMS-only user sees keys but is refused secrets.
    submit("/sign-out")
    check("/sign-in" in driver.current_url, f"signing out did not return to the sign-in page: {driver.current_url} {driver.title}")
    sign_in(reader["AccessKeyId"], reader["SecretAccessKey"])
    driver.get(f"{ui}/{PRIMARY}/keys")
    visit_done()
    check(key_id in driver.page_source, "the KMS reader does not see the key")
    driver.get(f"{ui}/{PRIMARY}/secrets")
    visit_done(expect_refusal=True)
    check("AccessDeniedException" in driver.page_source, "the KMS reader was not refused the secrets page")
    no_value("the refused secrets page")
    shot("refused")

    # A wrong secret does not sign in.
    submit("/sign-out")
    driver.get(ui + "/sign-in")
    driver.find_element(By.ID, "ak").send_keys(reader["AccessKeyId"])
    driver.find_element(By.ID, "sk").send_keys("not-the-secret")
    button = driver.find_element(By.CSS_SELECTOR, "form button[type=submit]")
    button.click()
    WebDriverWait(driver, 30).until(gone(button))
    visit_done(expect_refusal=True)
    check("/sign-in" in driver.current_url and "not valid" in driver.page_source, "a wrong secret signed in")

    print(json.dumps({"ok": True, "key_id": key_id, "pages": len(seen)}), flush=True)
finally:
    driver.quit()
