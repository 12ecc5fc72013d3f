#!/usr/bin/env python3
# known_frames.py: reference frames for spec/net_packet_spec.lua, built independently of lemu with
# Python's struct and its own checksum, printed as "name hex" lines. The spec builds the same frames
# with lemu.packet and compares bytes.
import struct, socket

def csum(b):
    if len(b) % 2: b += b'\0'
    s = sum(struct.unpack('!%dH' % (len(b) // 2), b))
    while s >> 16: s = (s & 0xffff) + (s >> 16)
    return ~s & 0xffff

def mac(s): return bytes(int(x, 16) for x in s.split(':'))
def ip4(s): return socket.inet_pton(socket.AF_INET, s)
def ip6(s): return socket.inet_pton(socket.AF_INET6, s)

def eth(dst, src, typ, payload, pad=True):
    f = mac(dst) + mac(src) + struct.pack('!H', typ) + payload
    if pad and len(f) < 60: f += b'\0' * (60 - len(f))
    return f

def ipv4(src, dst, proto, payload, ident=0, ttl=64):
    h = struct.pack('!BBHHHBBH4s4s', 0x45, 0, 20 + len(payload), ident, 0, ttl, proto, 0, ip4(src), ip4(dst))
    h = h[:10] + struct.pack('!H', csum(h)) + h[12:]
    return h + payload

def ipv6(src, dst, nxt, payload, hlim=64):
    return struct.pack('!IHBB', 6 << 28, len(payload), nxt, hlim) + ip6(src) + ip6(dst) + payload

def ph4(src, dst, proto, n): return ip4(src) + ip4(dst) + struct.pack('!BBH', 0, proto, n)
def ph6(src, dst, proto, n): return ip6(src) + ip6(dst) + struct.pack('!I3xB', n, proto)

def udp(src, dst, sp, dp, payload, v6=False):
    seg = struct.pack('!HHHH', sp, dp, 8 + len(payload), 0) + payload
    c = csum((ph6 if v6 else ph4)(src, dst, 17, len(seg)) + seg) or 0xffff
    return seg[:6] + struct.pack('!H', c) + seg[8:]

def tcp(src, dst, sp, dp, seq, ack, flags, win, opts=b'', payload=b''):
    off = (20 + len(opts)) // 4
    seg = struct.pack('!HHIIBBHHH', sp, dp, seq, ack, off << 4, flags, win, 0, 0) + opts + payload
    c = csum(ph4(src, dst, 6, len(seg)) + seg)
    return seg[:16] + struct.pack('!H', c) + seg[18:]

A, B = '52:54:00:12:34:56', '52:55:0a:00:02:02'
out = {}
# ARP who-has 10.0.2.2 tell 10.0.2.15
out['arp_request'] = eth('ff:ff:ff:ff:ff:ff', A, 0x0806,
    struct.pack('!HHBBH', 1, 0x0800, 6, 4, 1) + mac(A) + ip4('10.0.2.15') + mac('00:00:00:00:00:00') + ip4('10.0.2.2'))
# ICMP echo request id 0x1234 seq 7 "abcdefgh"
icmp = struct.pack('!BBHHH', 8, 0, 0, 0x1234, 7) + b'abcdefgh'
icmp = icmp[:2] + struct.pack('!H', csum(icmp)) + icmp[4:]
out['icmp_echo'] = eth(B, A, 0x0800, ipv4('10.0.2.15', '10.0.2.2', 1, icmp, ident=0x4242))
# UDP 10.0.2.15:5000 -> 10.0.2.2:6000 "hello, lemu" (odd length)
out['udp'] = eth(B, A, 0x0800, ipv4('10.0.2.15', '10.0.2.2', 17, udp('10.0.2.15', '10.0.2.2', 5000, 6000, b'hello, lemu'), ident=1))
# TCP SYN with MSS 1460, and a data segment with PSH|ACK
out['tcp_syn'] = eth(B, A, 0x0800, ipv4('10.0.2.15', '10.0.2.2', 6,
    tcp('10.0.2.15', '10.0.2.2', 40000, 80, 0xdeadbeef, 0, 0x02, 64240, struct.pack('!BBH', 2, 4, 1460)), ident=2))
out['tcp_data'] = eth(B, A, 0x0800, ipv4('10.0.2.15', '10.0.2.2', 6,
    tcp('10.0.2.15', '10.0.2.2', 40000, 80, 0xfffffff0, 12345, 0x18, 1000, b'', b'GET / HTTP/1.0\r\n\r\n'), ident=3))
# ICMPv6 neighbour solicitation for fe80::2 from fe80::5054:ff:fe12:3456 with a source lladdr option
ns = struct.pack('!BBHI', 135, 0, 0, 0) + ip6('fe80::2') + struct.pack('!BB', 1, 1) + mac(A)
s6, d6 = 'fe80::5054:ff:fe12:3456', 'ff02::1:ff00:2'
ns = ns[:2] + struct.pack('!H', csum(ph6(s6, d6, 58, len(ns)) + ns)) + ns[4:]
out['icmpv6_ns'] = eth('33:33:ff:00:00:02', A, 0x86dd, ipv6(s6, d6, 58, ns, hlim=255))
# UDP over IPv6
out['udp6'] = eth(B, A, 0x86dd, ipv6('fd00::15', 'fd00::2', 17, udp('fd00::15', 'fd00::2', 1234, 9999, b'xyz', v6=True)))
# DHCP discover, xid 0x3903f326, options 53=1, 55=[1,3,6], 61 (raw), end, padded to 300
bootp = struct.pack('!BBBBIHH', 1, 1, 6, 0, 0x3903f326, 0, 0x8000) + b'\0' * 16 + mac(A) + b'\0' * 10 + b'\0' * 192
opts = b'\x63\x82\x53\x63' + bytes([53, 1, 1, 55, 3, 1, 3, 6, 61, 7, 1]) + mac(A) + b'\xff'
dhcp = bootp + opts
dhcp += b'\0' * (300 - len(dhcp))
out['dhcp_discover'] = eth('ff:ff:ff:ff:ff:ff', A, 0x0800, ipv4('0.0.0.0', '255.255.255.255', 17, udp('0.0.0.0', '255.255.255.255', 68, 67, dhcp)))
# DNS query id 0xbeef, RD, A? server.test
def qname(n): return b''.join(bytes([len(l)]) + l.encode() for l in n.split('.')) + b'\0'
q = struct.pack('!HHHHHH', 0xbeef, 0x0100, 1, 0, 0, 0) + qname('server.test') + struct.pack('!HH', 1, 1)
out['dns_query'] = q
# DNS response with a compression pointer to the question name (0xc00c), A 10.0.2.2 ttl 60, and
# an AAAA fd00::2; then an NXDOMAIN response.
r = struct.pack('!HHHHHH', 0xbeef, 0x8180, 1, 2, 0, 0) + qname('server.test') + struct.pack('!HH', 1, 1)
r += struct.pack('!HHHIH', 0xc00c, 1, 1, 60, 4) + ip4('10.0.2.2')
r += struct.pack('!HHHIH', 0xc00c, 28, 1, 60, 16) + ip6('fd00::2')
out['dns_answer_compressed'] = r
out['dns_nxdomain'] = struct.pack('!HHHHHH', 7, 0x8183, 1, 0, 0, 0) + qname('nope.test') + struct.pack('!HH', 1, 1)
# TFTP RRQ with blksize, DATA block 2, ERROR 1
out['tftp_rrq'] = struct.pack('!H', 1) + b'boot.img\0octet\0blksize\x001024\0'
out['tftp_data'] = struct.pack('!HH', 3, 2) + b'payload'
out['tftp_error'] = struct.pack('!HH', 5, 1) + b'File not found\0'
for k, v in out.items(): print(k, v.hex())
