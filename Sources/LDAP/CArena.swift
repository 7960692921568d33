import CLDAP

/// Owns the C memory of one request's arguments (LDAPMod arrays, string arrays) and frees it
/// all at once when the request has been handed to libldap (which BER-encodes it at once).
final class CArena {
    private var allocations: [UnsafeMutableRawPointer] = []
    deinit { for pointer in allocations { pointer.deallocate() } }

    private func allocate<T>(_ type: T.Type, count: Int) -> UnsafeMutablePointer<T> {
        let pointer = UnsafeMutablePointer<T>.allocate(capacity: max(count, 1))
        allocations.append(UnsafeMutableRawPointer(pointer))
        return pointer
    }

    func cString(_ string: String) -> UnsafeMutablePointer<CChar> {
        let utf8 = Array(string.utf8)
        let pointer = allocate(CChar.self, count: utf8.count + 1)
        for (i, byte) in utf8.enumerated() { pointer[i] = CChar(bitPattern: byte) }
        pointer[utf8.count] = 0
        return pointer
    }

    func stringArray(_ strings: [String]) -> UnsafeMutablePointer<UnsafeMutablePointer<CChar>?> {
        let array = allocate(UnsafeMutablePointer<CChar>?.self, count: strings.count + 1)
        for (i, string) in strings.enumerated() { array[i] = cString(string) }
        array[strings.count] = nil
        return array
    }

    /// A NULL-terminated LDAPMod* array with binary (berval) values.
    func modifications(_ items: [(op: Int32, type: String, values: [String])]) -> UnsafeMutablePointer<UnsafeMutablePointer<LDAPMod>?> {
        let array = allocate(UnsafeMutablePointer<LDAPMod>?.self, count: items.count + 1)
        for (i, item) in items.enumerated() {
            var bervals: UnsafeMutablePointer<UnsafeMutablePointer<berval>?>? = nil
            if !item.values.isEmpty {
                let list = allocate(UnsafeMutablePointer<berval>?.self, count: item.values.count + 1)
                for (j, value) in item.values.enumerated() {
                    let utf8 = Array(value.utf8)
                    let bytes = allocate(CChar.self, count: utf8.count)
                    for (k, byte) in utf8.enumerated() { bytes[k] = CChar(bitPattern: byte) }
                    let bv = allocate(berval.self, count: 1)
                    bv.initialize(to: berval(bv_len: ber_len_t(utf8.count), bv_val: bytes))
                    list[j] = bv
                }
                list[item.values.count] = nil
                bervals = list
            }
            let mod = allocate(LDAPMod.self, count: 1)
            mod.initialize(to: LDAPMod())
            mod.pointee.mod_op = item.op | LDAP_MOD_BVALUES
            mod.pointee.mod_type = cString(item.type)
            mod.pointee.mod_vals.modv_bvals = bervals
            array[i] = mod
        }
        array[items.count] = nil
        return array
    }
}
