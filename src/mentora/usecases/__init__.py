"""Use cases: what a person, Whop or an operator asks of Mentora, as plain async functions.

Each takes `Services` and plain values and returns a result; `web` and `cli` turn requests
and command lines into calls and results into answers. Entry points:

- sign-in: `signin.complete_sign_in` (the OAuth callback), `signin.start_sign_in`
- sign-out: `signout.end_sessions`, `signout.sign_out`
- webhook intake: `webhook_intake.receive`
- sync: `sync.reconcile` (every creator, one creator, or one user)
- creator actions: `creators.add_creator`, `creators.update_creator`, `creators.set_enabled`,
  `creators.list_creators`, `creators.show_creator` (and `mentora.creators.refresh_profiles`)
"""
