"""UIDLs as the previous POP3 server sent them, so that a switch to pop3d downloads nothing again.

``uidl_format`` (pop3d.yaml(5)) names, per maildrop type, the server whose
UIDLs to reproduce: Dovecot (its ``pop3_uidl_format``, with UIDs from
``dovecot-uidlist`` or the ``X-UID``/``X-IMAPbase`` headers), Courier,
UW ipop3d, or qpopper.  Modules:

* :mod:`.template`: Dovecot's ``%08Xu%08Xv`` templates (a subset of its var_expand);
* :mod:`.dovecot_uidlist`, :mod:`.courier_sizelist`: the old servers' Maildir files;
* :mod:`.mbox_headers`: the UID headers IMAP servers write into mboxes;
* :mod:`.styles`: what each server sent for one message, and UIDLs for mail delivered after;
* :mod:`.remap`: a maildrop seen through those UIDLs and that order.
"""
