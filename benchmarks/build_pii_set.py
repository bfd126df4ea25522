"""Builds benchmarks/data/pii_labelled.jsonl: the labelled set the redactor is measured on.

Sentences are written by hand (Chinese and English, e-commerce and support tickets); the
identifiers in them are generated here so that valid ones really are valid (ID check digits,
Luhn) and the hard negatives really are invalid. Each line: {"text", "spans": [{"type", "text"}]}.
Run: python -m benchmarks.build_pii_set
"""

from __future__ import annotations

import json
import random
from pathlib import Path

OUT = Path(__file__).parent / "data" / "pii_labelled.jsonl"
# Written after the rules were tuned on OUT, and never used to tune them: the honest figure.
HOLDOUT = Path(__file__).parent / "data" / "pii_holdout.jsonl"
W = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)


def cn_id(rng: random.Random, valid: bool = True) -> str:
    region = rng.choice(["110105", "310104", "440305", "510107", "330106", "420111"])
    born = f"{rng.randint(1950, 2005)}{rng.randint(1, 12):02d}{rng.randint(1, 28):02d}"
    body = region + born + f"{rng.randint(0, 999):03d}"
    check = "10X98765432"[sum(int(c) * w for c, w in zip(body, W, strict=False)) % 11]
    if not valid:
        check = "10X98765432"[(sum(int(c) * w for c, w in zip(body, W, strict=False)) + 3) % 11]
    return body + check


def luhn_complete(prefix: str, length: int, rng: random.Random, valid: bool = True) -> str:
    body = prefix + "".join(str(rng.randint(0, 9)) for _ in range(length - len(prefix) - 1))
    for d in range(10):
        cand = body + str(d)
        total = 0
        for i, ch in enumerate(reversed(cand)):
            x = int(ch) * (2 if i % 2 else 1)
            total += x - 9 if x > 9 else x
        if (total % 10 == 0) == valid:
            return cand
    raise AssertionError


def group4(s: str, sep: str = " ") -> str:
    return sep.join(s[i : i + 4] for i in range(0, len(s), 4))


def mobile(rng: random.Random) -> str:
    return f"1{rng.choice('3456789')}{rng.randint(0, 9)}{rng.randint(0, 99999999):08d}"


def build() -> list[dict]:
    rng = random.Random(20261122)
    cases: list[dict] = []

    def case(text: str, *spans: tuple[str, str]) -> None:
        for _, s in spans:
            assert s in text, (s, text)
        cases.append({"text": text, "spans": [{"type": t, "text": s} for t, s in spans]})

    # phones
    for tmpl in [
        "快递一直没到，我的电话是{p}，请尽快联系",
        "收货人：王女士 {p}",
        "手机{p}打不通",
        "请回电 {p} 谢谢",
        "Please call me back at {p} about order 5521",
    ]:
        p = mobile(rng)
        case(tmpl.format(p=p), ("PHONE", p))
    for tmpl in [
        "联系方式 +86 {a}-{b}-{c}",
        "我的手机号是 86{a}{b}{c}，微信同号",
        "tel: +86{a}{b}{c}",
    ]:
        m = mobile(rng)
        a, b, c = m[:3], m[3:7], m[7:]
        text = tmpl.format(a=a, b=b, c=c)
        start = text.index("+86") if "+86" in text else text.index("86" + a)
        end = text.index(c, start) + len(c)
        case(text, ("PHONE", text[start:end]))
    for p in ["+44 20 7946 0958", "+1 (415) 555-0132", "+49 30 901820", "+33 1 42 68 53 00"]:
        case(
            f"Our London office: {p}, open 9-5."
            if p.startswith("+44")
            else f"Reach support on {p} any time",
            ("PHONE", p),
        )
    for p in ["(555) 123-4567", "212-555-0147"]:
        case(f"Customer left a voicemail from {p} yesterday", ("PHONE", p))
    for p in ["010-62345678", "0755-2345678"]:
        case(f"公司座机 {p} 转 8001", ("PHONE", p))

    # emails
    for e in [
        "zhang.san@example.com",
        "li_si+orders@mail.example.cn",
        "support@shop.co.uk",
        "wang.wu2023@qq.com",
        "a.b-c@sub.domain.org",
    ]:
        case(f"发票请发到 {e}，谢谢", ("EMAIL", e))
        case(f"Contact: {e}.", ("EMAIL", e))

    # Chinese resident IDs
    for _ in range(8):
        i = cn_id(rng)
        if rng.random() < 0.3:
            i = i[:-1] + ("X" if i[-1] == "X" else i[-1])
        case(
            rng.choice(
                ["实名认证身份证号：{i}", "身份证{i}，姓名张三", "ID card {i} was rejected"]
            ).format(i=i),
            ("CN_ID", i),
        )

    # bank cards
    for prefix, length in [
        ("622202", 19),
        ("621700", 19),
        ("4111", 16),
        ("5500", 16),
        ("6259", 16),
        ("3782", 15),
        ("6228", 19),
        ("4000", 16),
    ]:
        c = luhn_complete(prefix, length, rng)
        shown = group4(c) if length == 16 and rng.random() < 0.5 else c
        case(
            rng.choice(
                ["退款请打到银行卡 {c}", "卡号：{c} 户名李四", "Refund to card {c} please"]
            ).format(c=shown),
            ("BANK_CARD", shown),
        )
    c = luhn_complete("4242", 16, rng)
    case(f"card {group4(c, '-')} expired", ("BANK_CARD", group4(c, "-")))

    # IPs
    for ip in ["192.168.1.20", "10.0.0.1", "8.8.8.8", "203.0.113.45"]:
        case(f"登录异常，来源 IP {ip}", ("IP", ip))
        case(f"Request blocked from {ip}:443", ("IP", ip))
    for ip in [
        "2001:db8::1",
        "fe80::1ff:fe23:4567:890a",
        "2001:0db8:85a3:0000:0000:8a2e:0370:7334",
    ]:
        case(f"IPv6 client {ip} failed auth", ("IP", ip))

    # URLs with credentials
    for u in [
        "postgres://admin:s3cret@db.internal:5432/app",
        "https://bob:hunter2@files.example.com/report.pdf",
        "ftp://user:p%40ss@ftp.example.org/pub",
    ]:
        case(f"配置里写着 {u} 这样安全吗", ("URL_CREDENTIALS", u))

    # several in one
    p, e, i = mobile(rng), "chen.liu@example.com", cn_id(rng)
    case(f"客户陈柳，电话{p}，邮箱{e}，身份证{i}", ("PHONE", p), ("EMAIL", e), ("CN_ID", i))
    c = luhn_complete("622848", 19, rng)
    case(
        f"Name: Ann Lee; phone +1 (206) 555-0199; card {c}; ip 172.16.5.4",
        ("PHONE", "+1 (206) 555-0199"),
        ("BANK_CARD", c),
        ("IP", "172.16.5.4"),
    )

    # hard negatives: look like PII, are not
    negatives = [
        "订单号 {o} 已发货",
        "物流单号：{o}",
        "order #{o} shipped",
        "ISBN 978-7-115-42802-8 这本书很好",
        "价格 1299.00 元，优惠 200",
        "版本 1.2.3.4 修复了问题",
        "2023-11-12 14:30 下单，11-15 到货",
        "尺码 38/39，颜色 9527",
        "评分 4.5/5，销量 10000+",
        "邮编 518000",
        "房间号 1203，楼层 12",
        "see https://example.com/path?id=12345 for details",
        "email me at support at example dot com",
        "the meeting is at 10.30, room 5",
        "温度 36.5 度",
        "产品型号 RTX-4090-24G",
        "身份证号格式不对：{badid}",
        "卡号 {badcard} 无效",
        "version 300.1.1.1 released",
        "weight 1.5kg, 30x20x10cm",
        "@小明 你好",
        "user@ 不是邮箱",
        "电话还没给我",
        "编号 {digits11} 的商品缺货",
        "IPv6 uses colons like a:b:c",
        "ratio 16:9 screen, time 12:30:45",
    ]
    for n in negatives:
        text = n.format(
            o=str(rng.randint(10**15, 10**16 - 1)) + "00",
            badid=cn_id(rng, valid=False),
            badcard=luhn_complete("6222", 16, rng, valid=False),
            digits11="2" + "".join(str(rng.randint(0, 9)) for _ in range(10)),
        )
        case(text)
    return cases


def build_holdout() -> list[dict]:
    rng = random.Random(777)
    cases: list[dict] = []

    def case(text: str, *spans: tuple[str, str]) -> None:
        for _, s in spans:
            assert s in text, (s, text)
        cases.append({"text": text, "spans": [{"type": t, "text": s} for t, s in spans]})

    p = mobile(rng)
    case(f"麻烦让骑手到了打{p}", ("PHONE", p))
    p = mobile(rng)
    case(
        f"【售后】用户{p[:3]} {p[3:7]} {p[7:]}反馈屏幕碎了", ("PHONE", f"{p[:3]} {p[3:7]} {p[7:]}")
    )
    case("WhatsApp me: +852 9123 4567", ("PHONE", "+852 9123 4567"))
    case("hotline 800-555-0199 (toll free)", ("PHONE", "800-555-0199"))
    case("前台电话021-64321234，地址见官网", ("PHONE", "021-64321234"))
    case("邮箱：Mary.Jones@Company-Mail.com 已绑定", ("EMAIL", "Mary.Jones@Company-Mail.com"))
    case(
        "forward to billing.team@acme.io and cc ops@acme.io",
        ("EMAIL", "billing.team@acme.io"),
        ("EMAIL", "ops@acme.io"),
    )
    case("账号zhao123@163.com登录不了", ("EMAIL", "zhao123@163.com"))
    i = cn_id(rng)
    case(f"乘车人身份证：{i}（成人）", ("CN_ID", i))
    i = cn_id(rng)
    case(f"The passenger's Chinese ID {i.lower()} needs checking", ("CN_ID", i.lower()))
    c = luhn_complete("6217", 19, rng)
    case(f"工资卡{c}被冻结了", ("BANK_CARD", c))
    c = luhn_complete("5105", 16, rng)
    case(f"charged twice on {group4(c)}!", ("BANK_CARD", group4(c)))
    case("From IP 45.33.32.156 we saw 40 failed logins", ("IP", "45.33.32.156"))
    case("客户端地址 ::ffff:c000:0280 被封禁", ("IP", "::ffff:c000:0280"))
    case(
        "mysql://root:toor@10.1.2.3:3306/shop 是测试库",
        ("URL_CREDENTIALS", "mysql://root:toor@10.1.2.3:3306/shop"),
    )
    case(
        "redis://:pass@cache:6379/0 leaked in logs",
        ("URL_CREDENTIALS", "redis://:pass@cache:6379/0"),
    )
    # negatives
    for n in [
        "快递单号 SF1234567890123 已签收",
        "发票号码 04400170011112345678",
        "2024年3月15日 下午3:45",
        "pH 7.4, 体积 2.5L",
        "IP地址无法获取",
        "card ending in 4242",
        "contact us via the form",
        "商品编码 6901234567892（条码）",
        "共 13800 元，分 12 期",
        "坐标 39.9042, 116.4074",
        "版本号 v2.10.3.1",
        "call 10086 for help",
        "size 1920x1080@60Hz",
    ]:
        case(n)
    cases += build_evasions()
    return cases


def fullwidth(s: str) -> str:
    """The text as typed with a Chinese IME in full-width mode (ASCII -> U+FF01..U+FF5E)."""
    return "".join(
        "\u3000" if c == " " else chr(ord(c) + 0xFEE0) if "!" <= c <= "~" else c for c in s
    )


def build_evasions() -> list[dict]:
    """Added to the holdout on 2026-12-02 (issue 12), written before the redactor learned to fold
    width and drop invisible characters: identifiers typed in full-width digits, split by
    zero-width characters (pasted from chat apps, or on purpose), cards grouped with dots or
    no-break spaces; and near misses that folding must not turn into PII. Each case is tagged
    ``"set": "evasion"`` so the benchmark also reports them apart."""
    rng = random.Random(20261202)
    cases: list[dict] = []

    def case(text: str, *spans: tuple[str, str]) -> None:
        for _, s in spans:
            assert s in text, (s, text)
        spans_out = [{"type": t, "text": s} for t, s in spans]
        cases.append({"text": text, "spans": spans_out, "set": "evasion"})

    # ZWSP, ZWNJ, ZWJ, word joiner, BOM / zero-width no-break space
    zw = ["\u200b", "\u200c", "\u200d", "\u2060", "\ufeff"]

    # full-width digits (IME full-width mode)
    p = fullwidth(mobile(rng))
    case(f"我的电话：{p}，到了请打", ("PHONE", p))
    p = fullwidth(mobile(rng))
    case(f"收件人王芳 {p} 放门口就行", ("PHONE", p))
    m = mobile(rng)
    p = fullwidth(f"+86 {m[:3]} {m[3:7]} {m[7:]}")
    case(f"联系方式{p}（微信同号）", ("PHONE", p))
    m = mobile(rng)
    p = m[:3] + fullwidth(m[3:])  # half typed in each mode
    case(f"骑手电话{p}一直打不通", ("PHONE", p))
    p = fullwidth("021-64321234")
    case(f"门店座机{p}，营业时间九点到九点", ("PHONE", p))
    e = fullwidth("zhang.wei@example.com")
    case(f"发票发到邮箱{e}谢谢", ("EMAIL", e))
    i = fullwidth(cn_id(rng))
    case(f"实名信息：身份证{i}", ("CN_ID", i))
    c = fullwidth(luhn_complete("622202", 19, rng))
    case(f"退款退到这张卡{c}", ("BANK_CARD", c))
    c = fullwidth(group4(luhn_complete("6228", 16, rng)))
    case(f"卡号：{c}，户名张伟", ("BANK_CARD", c))
    ip = fullwidth("192.168.10.23")
    case(f"登录地址显示{ip}，不是我本人", ("IP", ip))

    # zero-width characters inside the identifier
    for ch, tmpl in zip(
        zw,
        [
            "加我 {p} 详聊",
            "有问题打{p}找客服小刘",
            "Text me on {p} when you arrive",
            "手机号{p}，周末也在",
            "备用电话 {p}",
        ],
        strict=True,
    ):
        m = mobile(rng)
        p = ch.join([m[:3], m[3:7], m[7:]])
        case(tmpl.format(p=p), ("PHONE", p))
    m = mobile(rng)
    p = "\u200b".join(m)  # after every digit
    case(f"私信我：{p}", ("PHONE", p))
    m = mobile(rng)
    p = "\u200d" + m[:5] + "\u200d" + m[5:]  # leading one is outside the span
    case(f"call{p} after 6pm", ("PHONE", p[1:]))
    e = "li\u200bsi.orders@example\u200b.com"
    case(f"email {e} for the invoice", ("EMAIL", e))
    i = cn_id(rng)
    i2 = i[:6] + "\u2060" + i[6:14] + "\u2060" + i[14:]
    case(f"身份证号{i2}请核对", ("CN_ID", i2))
    c = luhn_complete("621700", 19, rng)
    c2 = "\u200c".join(c[k : k + 4] for k in range(0, 19, 4))
    case(f"工资卡 {c2} 被冻结", ("BANK_CARD", c2))
    c = group4(luhn_complete("4111", 16, rng)).replace(" ", " \u200b")
    case(f"Charge it to {c} please", ("BANK_CARD", c))
    m = mobile(rng)
    p = fullwidth(m[:3]) + "\u200b" + fullwidth(m[3:])  # both at once
    case(f"电话{p}", ("PHONE", p))

    # cards grouped with dots, no-break spaces (U+00A0, U+202F) or ideographic spaces
    for prefix, length, sep, tmpl in [
        ("4000", 16, ".", "card {c} was declined twice"),
        ("5105", 16, ".", "卡号 {c} 请核实"),
        ("6259", 16, "\u00a0", "Refund to {c}, thanks"),
        ("6228", 16, "\u00a0", "银行卡：{c}"),
        ("4242", 16, "\u202f", "paid with {c} yesterday"),
        ("5500", 16, "\u202f", "信用卡{c}被盗刷"),
        ("6222", 16, "\u3000", "卡号{c}，开户行工商银行"),
    ]:
        c = group4(luhn_complete(prefix, length, rng), sep)
        case(tmpl.format(c=c), ("BANK_CARD", c))
    c = luhn_complete("621700", 19, rng)
    c = ".".join(c[k : k + 4] for k in range(0, 19, 4))  # 4.4.4.4.3
    case(f"转账到 {c} 即可", ("BANK_CARD", c))
    c = luhn_complete("3782", 15, rng)
    c = f"{c[:4]}.{c[4:10]}.{c[10:]}"  # Amex 4-6-5
    case(f"Amex {c} exp 09/28", ("BANK_CARD", c))
    p = "+44\u00a020\u00a07946\u00a00958"
    case(f"London desk: {p}", ("PHONE", p))

    # near misses: folding and dropping invisible characters must not make these PII
    for n in [
        "订单号：" + fullwidth(luhn_complete("6222", 16, rng)),
        "快递单号\u200b" + luhn_complete("4111", 16, rng),
        "order #\u00a0" + group4(luhn_complete("5500", 16, rng), "\u00a0"),
        "价格：" + fullwidth("1299.00") + "元",
        fullwidth("2024") + "年" + fullwidth("3") + "月" + fullwidth("15") + "日下单",
        "工号 " + fullwidth("1381234567"),  # 10 digits
        "会员卡号 " + fullwidth("138123456789"),  # 12 digits
        "编号 " + fullwidth("12345678901"),  # 11 digits, not 1[3-9]
        "卡号 " + group4(luhn_complete("4111", 16, rng, valid=False), "."),
        "card " + group4(luhn_complete("6228", 16, rng, valid=False), "\u00a0") + " is invalid",
        "transaction 1234.5678.9012.3456 settled",  # issuer prefix 1
        "ref 4111.1111.111 partial",
        "总价 12\u00a0345\u00a0678 元",
        "prix 1\u202f299,00 € TTC",
        "版本\u200b1.2.3.4 已发布",
        "version\u00a010.0.0.1 is out",
        "时间 " + fullwidth("12:30:45"),
        "比分 " + fullwidth("3:1"),
        "👨\u200d👩\u200d👧 全家都喜欢，五星",
        "ISBN 978\u200b7115428028",
        "坐标 " + fullwidth("39.9042, 116.4074"),
        "尺寸 " + fullwidth("1920x1080"),
        "身份证号不对：" + fullwidth(cn_id(rng, valid=False)),
        "邮箱写成了 zhang\u200b@\u200b 后面忘了",
        "分机\u00a08001，工作日拨打",
        "weight 2.5\u00a0kg, 30\u00d720\u00d710 cm",
    ]:
        case(n)
    return cases


def _write(path: Path, cases: list[dict]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8") as f:
        for c in cases:
            f.write(json.dumps(c, ensure_ascii=False) + "\n")
    print(f"wrote {len(cases)} cases to {path}")


def main() -> None:
    _write(OUT, build())
    _write(HOLDOUT, build_holdout())


if __name__ == "__main__":
    main()
