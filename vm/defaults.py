"""Defaults that several parts share, defined once (the config's defaults, the chain's, the AI layer's).

No imports: the config, the chain adapter, the fork client and the AI layer all read it.
"""

BLOCK_GAS_LIMIT = 30_000_000  # [node] gas_limit; also the fallback for a forked block without one
AI_TASK_TIMEOUT = 30.0  # [node] ai_task_timeout: seconds a validator has for one task
AI_INFER_TIMEOUT = 120.0  # [node] ai_infer_timeout: seconds a block waits for the quorum's answer
AI_MAX_GAS_PER_EXECUTION = 1_000_000  # [aivm] max_gas_per_execution: the most one AI execution may cost
AI_DEFAULT_NEW_TOKENS = 32  # [node] ai_max_new_tokens: a text answer's default length
AI_JOIN_DELAY = 5.0  # [node] ai_join_delay: seconds from a valid attestation until a validator counts
AI_HEDGE_AFTER = 0.15  # [node] ai_hedge_after: seconds a round waits before asking a spare (0: with the round)
AI_READY_WAIT = 60.0  # seconds an AI request that arrives while the AI layer starts or validators join waits
AI_MAX_ANSWER_TOKENS = 256  # the cap on a text answer's length (= models.generation.MAX_NEW_TOKENS; a test keeps them equal)
AI_HEARTBEAT_GRACE = 10.0  # [node] ai_heartbeat_grace: seconds without a heartbeat before a validator leaves
