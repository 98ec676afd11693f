"""Prints ASCII, every character of GB 2312 and a few date punctuation marks:
the character set of the bundled poster font (see data/fonts/README.md)."""
chars = {chr(c) for c in range(0x20, 0x7F)}
for hi in range(0xA1, 0xF8):
    for lo in range(0xA1, 0xFF):
        try:
            chars.add(bytes([hi, lo]).decode("gb2312"))
        except UnicodeDecodeError:
            pass
chars.update("年月日时分至－—–·•…，。：；（）《》、")
print("".join(sorted(chars)))
