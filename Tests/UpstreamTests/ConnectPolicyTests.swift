import Testing
@testable import Upstream

@Suite struct AddressClassTests {
    @Test(arguments: [
        ("127.0.0.1", AddressClass.loopback), ("127.255.0.9", .loopback), ("0.0.0.0", .loopback), ("::1", .loopback), ("::", .loopback),
        ("10.0.0.1", .privateNetwork), ("172.16.0.1", .privateNetwork), ("172.31.255.255", .privateNetwork),
        ("192.168.1.1", .privateNetwork), ("100.64.0.1", .privateNetwork), ("fd00::1", .privateNetwork), ("fc12::1", .privateNetwork),
        ("169.254.169.254", .linkLocal), ("fe80::1", .linkLocal), ("[fe80::1]", .linkLocal),
        ("::ffff:127.0.0.1", .loopback), ("::ffff:169.254.169.254", .linkLocal), ("::ffff:10.1.2.3", .privateNetwork),
        ("64:ff9b::a9fe:a9fe", .linkLocal), ("::10.0.0.1", .privateNetwork),
        ("224.0.0.1", .reserved), ("255.255.255.255", .reserved), ("ff02::1", .reserved),
        ("151.101.0.223", .public), ("172.32.0.1", .public), ("172.15.255.255", .public), ("100.128.0.1", .public),
        ("2a04:4e42::223", .public), ("::ffff:151.101.0.223", .public), ("192.169.0.1", .public),
    ])
    func classifies(_ text: String, _ expected: AddressClass) {
        #expect(AddressClass(literal: text) == expected, "\(text)")
    }

    @Test func namesAreNotLiterals() {
        #expect(AddressClass(literal: "pypi.org") == nil)
        #expect(AddressClass(literal: "") == nil)
        #expect(AddressClass(literal: "1.2.3") == nil)
    }
}

@Suite struct ConnectPolicyTests {
    @Test func hostsOfURLs() {
        #expect(ConnectPolicy.host(of: "https://PyPI.org/simple/") == "pypi.org")
        #expect(ConnectPolicy.host(of: "http://user:pw@h.example:8080/x?y#z") == "h.example")
        #expect(ConnectPolicy.host(of: "http://[::1]:3141/simple/") == "::1")
        #expect(ConnectPolicy.host(of: "http://10.0.0.1") == "10.0.0.1")
        #expect(ConnectPolicy.host(of: "no-scheme") == nil)
    }

    @Test func publicUpstreamAllowsOnlyPublicAddresses() {
        let policy = ConnectPolicy(upstreamURL: "https://pypi.org/simple/", environment: [:])
        #expect(policy.permits(.public, host: "files.pythonhosted.org"))
        for kind in [AddressClass.loopback, .linkLocal, .privateNetwork, .reserved] {
            #expect(!policy.permits(kind, host: "files.pythonhosted.org"))
            #expect(!policy.permits(kind, host: nil))
        }
    }

    @Test func upstreamOnAPrivateAddressAllowsThatKindOnly() {
        let loopback = ConnectPolicy(upstreamURL: "http://127.0.0.1:3141/root/pypi/+simple/", environment: [:])
        #expect(loopback.permits(.loopback, host: "localhost"))
        #expect(!loopback.permits(.linkLocal, host: "169.254.169.254"))
        #expect(!loopback.permits(.privateNetwork, host: "10.0.0.1"))
        let named = ConnectPolicy(upstreamURL: "http://localhost:3141/simple/", environment: [:])
        #expect(named.permits(.loopback, host: "127.0.0.1"))
        let ipv6 = ConnectPolicy(upstreamURL: "http://[fd00::5]/simple/", environment: [:])
        #expect(ipv6.permits(.privateNetwork, host: "files.internal"))
    }

    @Test func aNamedUpstreamTeachesItsAddressKindOnFirstConnect() {
        let policy = ConnectPolicy(upstreamURL: "http://devpi.internal:3141/simple/", environment: [:])
        #expect(!policy.permits(.privateNetwork, host: "files.internal"), "not yet known to be private")
        #expect(policy.permits(.privateNetwork, host: "devpi.internal"), "the upstream itself")
        #expect(policy.permits(.privateNetwork, host: "files.internal"), "its neighbours, now")
        #expect(!policy.permits(.linkLocal, host: "169.254.169.254"))
    }

    @Test func aProxyFromTheEnvironmentTurnsChecksOff() {
        let policy = ConnectPolicy(upstreamURL: "https://pypi.org/simple/", environment: ["https_proxy": "http://10.0.0.1:3128"])
        #expect(!policy.enforced)
        #expect(policy.permits(.privateNetwork, host: "pypi.org"))
    }
}
