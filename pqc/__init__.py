"""Post-quantum layer: algorithms, security levels, bundles, sealed messages, quorums.

The node and the precompiles use this package through these names:

    KeySet.generate(level)                      keys for one security level
    bundle.sign / bundle.verify / bundle.check  multi-algorithm signature bundles
    seal.seal / seal.open_sealed                messages encrypted to KEM keys
    crosschain.create / crosschain.open_message synergy_createSecureCrossChainMessage
    validators.registration_writes              validator registry in chain state
    quorum.QuorumCertificate / quorum.verify    quorum certificates (on- and off-chain)
    stats.security_stats                        synergy_getPQCSecurityStats
    audit.run                                   the families' self-test
"""
from pqc import algorithms, audit, bundle, crosschain, quorum, seal, stats, validators
from pqc.errors import FormatError, KeystoreError, PQCError, SealError, VerificationError
from pqc.keys import KeySet, PublicKeys, Role
from pqc.levels import SecurityLevel

__all__ = [
    "FormatError", "KeySet", "KeystoreError", "PQCError", "PublicKeys", "Role", "SealError",
    "SecurityLevel", "VerificationError", "algorithms", "audit", "bundle", "crosschain", "quorum", "seal",
    "stats", "validators",
]
