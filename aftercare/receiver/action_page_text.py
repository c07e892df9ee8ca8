"""Every word of the action pages (``action_page.py``), per language, in one place.

Per language (``en``, ``de``, ``fr``, ``ru``, ``zh-CN``, ``th``: the tag is also the page's
``<html lang>``), keyed by message name; ``{store}``, ``{value}``, ``{choice}`` and ``{days}``
are filled in by the page (escaped first). English is complete and the fallback for any
missing message.
When the pages move to gettext catalogues (issue 18: Babel ``.po`` files), the English
strings here are the msgids and the other languages the first translations.
"""

from __future__ import annotations

from collections.abc import Mapping

from babel import Locale, UnknownLocaleError
from babel.core import get_global

FALLBACK = "en"

TEXT: Mapping[str, Mapping[str, str]] = {
    "en": {
        "rated": "Thanks — you rated your order {value}.",
        "rating.good": "good",
        "rating.okay": "okay",
        "rating.bad": "bad",
        "rating.button.good": "Good",
        "rating.button.okay": "Okay",
        "rating.button.bad": "Bad",
        "change": "Change your answer?",
        "comment.label": "Anything you'd like to tell {store}? (optional)",
        "comment.button": "Send my comment",
        "comment.thanks": "Thanks for your comment: {store} will read it.",
        "faq.yes": "Thanks — we're glad this answer helped.",
        "faq.no": "Thanks for telling us — we'll make this answer better.",
        "faq.no.more": "Still have a question? Reply to the email and {store} will help.",
        "faq.button.yes": "It helped",
        "faq.button.no": "It didn't help",
        "wait.done": "Thanks — we'll keep your order coming.",
        "wait.body": "{store} knows you're happy to wait, and will tell you if anything changes.",
        "choice.refund": "cancel your order and refund you",
        "choice.reship": "send your order again by a faster service",
        "ask.refund": "Cancel your order and get a refund?",
        "ask.reship": "Have your order sent again by a faster service?",
        "ask.body": "Nothing has changed yet: press the button and {store} will {choice}.",
        "button.refund": "Cancel my order and refund me",
        "button.reship": "Send it again by a faster service",
        "done.refund": "Done — you asked for a refund.",
        "done.reship": "Done — you asked for faster delivery.",
        "choice.ship_ready": "send what is ready now and the rest when it arrives",
        "ask.ship_ready": "Get what is ready now, and the rest when it arrives?",
        "button.ship_ready": "Send what is ready now",
        "done.ship_ready": "Done — what is ready will be sent now.",
        "done.body": "{store} has your request and will {choice}. You'll hear back by email.",
        "chosen.title": "You've already asked {store} to {choice}.",
        "chosen.body": "To keep waiting for your order instead, press the button.",
        "button.wait": "Keep waiting for my order",
        "bad.title": "This link doesn't work",
        "bad.body": (
            "This link is not complete or not valid, so nothing was recorded. It may have "
            "been cut short when it was copied: open it again from the email, or reply to "
            "any email from {store}."
        ),
        "expired.title": "This link has expired",
        "expired.body": (
            "Links in our emails work for {days} days, so nothing was recorded. Reply to any "
            "email from {store} and we'll help."
        ),
        "unknown.body": (
            "We can't find the email this link came from, so nothing was recorded. Reply to "
            "any email from {store} and we'll help."
        ),
        "not_a_choice": "That answer isn't one of the choices, so nothing was recorded.",
        "unavailable.title": "Please try again in a minute",
        "unavailable.body": (
            "We could not save your answer just now, so nothing has changed yet. Please "
            "open the link from the email again in a minute."
        ),
    },
    "de": {
        "rated": "Danke — Sie haben Ihre Bestellung mit {value} bewertet.",
        "rating.good": "gut",
        "rating.okay": "okay",
        "rating.bad": "schlecht",
        "rating.button.good": "Gut",
        "rating.button.okay": "Okay",
        "rating.button.bad": "Schlecht",
        "change": "Antwort ändern?",
        "comment.label": "Möchten Sie {store} noch etwas sagen? (freiwillig)",
        "comment.button": "Kommentar senden",
        "comment.thanks": "Danke für Ihren Kommentar: {store} liest ihn.",
        "faq.yes": "Danke — schön, dass diese Antwort geholfen hat.",
        "faq.no": "Danke für den Hinweis — wir verbessern diese Antwort.",
        "faq.no.more": "Noch eine Frage? Antworten Sie auf die E-Mail, {store} hilft Ihnen.",
        "faq.button.yes": "Hat geholfen",
        "faq.button.no": "Hat nicht geholfen",
        "wait.done": "Danke — Ihre Bestellung kommt weiter zu Ihnen.",
        "wait.body": (
            "{store} weiß, dass Sie gern warten, und meldet sich, falls sich etwas ändert."
        ),
        "choice.refund": "Ihre Bestellung stornieren und Ihnen den Betrag erstatten",
        "choice.reship": "Ihre Bestellung noch einmal mit einem schnelleren Versand schicken",
        "ask.refund": "Bestellung stornieren und Geld zurück?",
        "ask.reship": "Bestellung noch einmal schneller verschicken lassen?",
        "ask.body": (
            "Noch hat sich nichts geändert: Drücken Sie den Knopf, und {store} wird {choice}."
        ),
        "button.refund": "Bestellung stornieren und erstatten",
        "button.reship": "Schneller noch einmal schicken",
        "done.refund": "Erledigt — Sie haben eine Erstattung angefordert.",
        "done.reship": "Erledigt — Sie haben einen schnelleren Versand angefordert.",
        "choice.ship_ready": "das Fertige jetzt schicken und den Rest, sobald er da ist",
        "ask.ship_ready": "Das Fertige jetzt bekommen und den Rest später?",
        "button.ship_ready": "Das Fertige jetzt schicken",
        "done.ship_ready": "Erledigt — das Fertige wird jetzt verschickt.",
        "done.body": (
            "{store} hat Ihre Anfrage und wird {choice}. Sie erhalten eine Antwort per E-Mail."
        ),
        "chosen.title": "Sie haben {store} schon gebeten, {choice}.",
        "chosen.body": "Wenn Sie stattdessen weiter warten möchten, drücken Sie den Knopf.",
        "button.wait": "Weiter auf meine Bestellung warten",
        "bad.title": "Dieser Link funktioniert nicht",
        "bad.body": (
            "Dieser Link ist unvollständig oder ungültig, daher wurde nichts gespeichert. "
            "Vielleicht wurde er beim Kopieren abgeschnitten: Öffnen Sie ihn noch einmal aus "
            "der E-Mail, oder antworten Sie auf eine E-Mail von {store}."
        ),
        "expired.title": "Dieser Link ist abgelaufen",
        "expired.body": (
            "Links in unseren E-Mails gelten {days} Tage, daher wurde nichts gespeichert. "
            "Antworten Sie auf eine E-Mail von {store}, wir helfen Ihnen gern."
        ),
        "unknown.body": (
            "Wir finden die E-Mail zu diesem Link nicht, daher wurde nichts gespeichert. "
            "Antworten Sie auf eine E-Mail von {store}, wir helfen Ihnen gern."
        ),
        "not_a_choice": "Diese Antwort steht nicht zur Wahl, daher wurde nichts gespeichert.",
        "unavailable.title": "Bitte versuchen Sie es gleich noch einmal",
        "unavailable.body": (
            "Wir konnten Ihre Antwort gerade nicht speichern, es hat sich also noch nichts "
            "geändert. Bitte öffnen Sie den Link aus der E-Mail in einer Minute noch einmal."
        ),
    },
    "fr": {
        "rated": "Merci — vous avez jugé votre commande {value}.",
        "rating.good": "bien",
        "rating.okay": "correcte",
        "rating.bad": "mauvaise",
        "rating.button.good": "Bien",
        "rating.button.okay": "Correcte",
        "rating.button.bad": "Mauvaise",
        "change": "Changer votre réponse ?",
        "comment.label": "Voulez-vous dire quelque chose à {store} ? (facultatif)",
        "comment.button": "Envoyer mon commentaire",
        "comment.thanks": "Merci pour votre commentaire : {store} le lira.",
        "faq.yes": "Merci — nous sommes ravis que cette réponse vous ait aidé.",
        "faq.no": "Merci de nous l'avoir dit — nous allons améliorer cette réponse.",
        "faq.no.more": "Une autre question ? Répondez à l'e-mail et {store} vous aidera.",
        "faq.button.yes": "Cela m'a aidé",
        "faq.button.no": "Cela ne m'a pas aidé",
        "wait.done": "Merci — votre commande continue son chemin.",
        "wait.body": (
            "{store} sait que vous acceptez d'attendre et vous préviendra si quelque chose change."
        ),
        "choice.refund": "annuler votre commande et vous rembourser",
        "choice.reship": "renvoyer votre commande par un service plus rapide",
        "ask.refund": "Annuler votre commande et être remboursé ?",
        "ask.reship": "Recevoir votre commande par un envoi plus rapide ?",
        "ask.body": ("Rien n'a encore changé : appuyez sur le bouton et {store} va {choice}."),
        "button.refund": "Annuler ma commande et me rembourser",
        "button.reship": "La renvoyer par un service plus rapide",
        "done.refund": "C'est noté — vous avez demandé un remboursement.",
        "done.reship": "C'est noté — vous avez demandé un envoi plus rapide.",
        "choice.ship_ready": "envoyer maintenant ce qui est prêt et le reste à son arrivée",
        "ask.ship_ready": "Recevoir maintenant ce qui est prêt, et le reste plus tard ?",
        "button.ship_ready": "Envoyer ce qui est prêt",
        "done.ship_ready": "C'est noté — ce qui est prêt part maintenant.",
        "done.body": (
            "{store} a reçu votre demande et va {choice}. Vous recevrez une réponse par e-mail."
        ),
        "chosen.title": "Vous avez déjà demandé à {store} de {choice}.",
        "chosen.body": "Pour attendre votre commande plutôt, appuyez sur le bouton.",
        "button.wait": "Continuer à attendre ma commande",
        "bad.title": "Ce lien ne fonctionne pas",
        "bad.body": (
            "Ce lien est incomplet ou non valide, rien n'a donc été enregistré. Il a peut-être "
            "été coupé lors d'un copier-coller : ouvrez-le à nouveau depuis l'e-mail, ou "
            "répondez à un e-mail de {store}."
        ),
        "expired.title": "Ce lien a expiré",
        "expired.body": (
            "Les liens de nos e-mails sont valables {days} jours, rien n'a donc été "
            "enregistré. Répondez à un e-mail de {store} et nous vous aiderons."
        ),
        "unknown.body": (
            "Nous ne retrouvons pas l'e-mail de ce lien, rien n'a donc été enregistré. "
            "Répondez à un e-mail de {store} et nous vous aiderons."
        ),
        "not_a_choice": "Cette réponse ne fait pas partie des choix, rien n'a été enregistré.",
        "unavailable.title": "Veuillez réessayer dans une minute",
        "unavailable.body": (
            "Nous n'avons pas pu enregistrer votre réponse, rien n'a donc encore changé. "
            "Ouvrez à nouveau le lien de l'e-mail dans une minute."
        ),
    },
    "ru": {
        "rated": "Спасибо! Ваша оценка заказа — «{value}».",
        "rating.good": "хорошо",
        "rating.okay": "нормально",
        "rating.bad": "плохо",
        "rating.button.good": "Хорошо",
        "rating.button.okay": "Нормально",
        "rating.button.bad": "Плохо",
        "change": "Хотите изменить ответ?",
        "comment.label": "Хотите что-нибудь передать магазину {store}? (необязательно)",
        "comment.button": "Отправить комментарий",
        "comment.thanks": "Спасибо за комментарий — {store} обязательно его прочитает.",
        "faq.yes": "Спасибо! Рады, что этот ответ помог.",
        "faq.no": "Спасибо, что сообщили! Мы постараемся сделать этот ответ лучше.",
        "faq.no.more": "Остались вопросы? Ответьте на письмо, и {store} вам поможет.",
        "faq.button.yes": "Помогло",
        "faq.button.no": "Не помогло",
        "wait.done": "Спасибо за терпение! Ваш заказ остаётся в силе.",
        "wait.body": (
            "{store} знает, что вы готовы подождать, и сообщит вам, если что-то изменится."
        ),
        # Infinitives: "вы попросите {store} …", "знает, что нужно …", "попросили {store} …".
        "choice.refund": "отменить заказ и вернуть вам деньги",
        "choice.reship": "отправить заказ более быстрой доставкой",
        "ask.refund": "Отменить заказ и вернуть деньги?",
        "ask.reship": "Ускорить доставку заказа?",
        "ask.body": "Пока ничего не изменилось: нажав кнопку, вы попросите {store} {choice}.",
        "button.refund": "Отменить заказ и вернуть деньги",
        "button.reship": "Ускорить доставку",
        "done.refund": "Принято: вы запросили возврат денег.",
        "done.reship": "Принято: вы запросили ускоренную доставку.",
        "choice.ship_ready": "отправить сейчас то, что готово, а остальное — как только поступит",
        "ask.ship_ready": "Получить сейчас то, что уже готово, а остальное — позже?",
        "button.ship_ready": "Отправить то, что готово",
        "done.ship_ready": "Принято: готовые товары отправим сейчас.",
        "done.body": "{store} уже знает, что нужно {choice}, и ответит вам по электронной почте.",
        "chosen.title": "Вы уже попросили {store} {choice}.",
        "chosen.body": "Если вы всё же хотите дождаться заказа, нажмите кнопку.",
        "button.wait": "Подождать",
        "bad.title": "Эта ссылка не работает",
        "bad.body": (
            "Ссылка неполная или недействительна, поэтому ничего не сохранено. Возможно, "
            "она обрезалась при копировании: откройте её ещё раз из письма или ответьте на "
            "любое письмо от {store}."
        ),
        "expired.title": "Срок действия ссылки истёк",
        # "дн.": {days} is any number, and the noun's form would depend on it.
        "expired.body": (
            "Ссылки в наших письмах действуют {days} дн., поэтому ничего не сохранено. "
            "Ответьте на любое письмо от {store}, и мы поможем."
        ),
        "unknown.body": (
            "Мы не можем найти письмо, к которому относится эта ссылка, поэтому ничего не "
            "сохранено. Ответьте на любое письмо от {store}, и мы поможем."
        ),
        "not_a_choice": "Такого варианта ответа нет, поэтому ничего не сохранено.",
        "unavailable.title": "Пожалуйста, попробуйте ещё раз через минуту",
        "unavailable.body": (
            "Сейчас нам не удалось сохранить ваш ответ, поэтому пока ничего не изменилось. "
            "Пожалуйста, откройте ссылку из письма ещё раз через минуту."
        ),
    },
    # Simplified Chinese: zh-CN, zh-SG, zh-Hans and a bare zh read it; zh-TW and zh-HK
    # (Traditional) do not: whether they get Simplified is the store's choice, made when
    # the email was written (emails/locale_choice.py), and its locale is what the page reads.
    "zh-CN": {
        "rated": "谢谢！您对这笔订单的评价是：{value}。",
        "rating.good": "满意",
        "rating.okay": "一般",
        "rating.bad": "不满意",
        "rating.button.good": "满意",
        "rating.button.okay": "一般",
        "rating.button.bad": "不满意",
        "change": "要修改您的选择吗？",
        "comment.label": "还有什么想对{store}说的吗？（选填）",
        "comment.button": "发送留言",
        "comment.thanks": "谢谢您的留言，{store}会认真阅读。",
        "faq.yes": "谢谢！很高兴这条解答对您有帮助。",
        "faq.no": "谢谢您告诉我们，我们会改进这条解答。",
        "faq.no.more": "还有疑问？直接回复邮件，{store}会为您解答。",
        "faq.button.yes": "有帮助",
        "faq.button.no": "没有帮助",
        "wait.done": "谢谢！我们会继续为您跟进这笔订单。",
        "wait.body": "{store}已经知道您愿意继续等待，如有任何变化会及时通知您。",
        # Filled in after "就会" / "将" / "您已请{store}": what the store does.
        "choice.refund": "为您取消订单并退款",
        "choice.reship": "为您加急配送",
        "ask.refund": "要取消订单并退款吗？",
        "ask.reship": "需要为您加急配送吗？",
        "ask.body": "目前还没有任何变更：点击下方按钮，{store}就会{choice}。",
        "button.refund": "取消订单并退款",
        "button.reship": "加急配送",
        "done.refund": "好的，您已申请退款。",
        "done.reship": "好的，您已申请加急配送。",
        "choice.ship_ready": "先发出已备好的商品，其余的到货后再发",
        "ask.ship_ready": "要先发出已备好的商品，其余的到货后再发吗？",
        "button.ship_ready": "先发已备好的商品",
        "done.ship_ready": "好的，已备好的商品马上发出。",
        "done.body": "{store}已收到您的请求，将{choice}。我们会通过邮件回复您。",
        "chosen.title": "您已请{store}{choice}。",
        "chosen.body": "如果您还是想继续等待这笔订单，请点击下方按钮。",
        "button.wait": "继续等待",
        "bad.title": "此链接无法使用",
        "bad.body": (
            "此链接不完整或无效，因此没有记录任何内容。可能是复制时被截断了：请从邮件中"
            "重新打开，或回复{store}的任意一封邮件。"
        ),
        "expired.title": "此链接已过期",
        "expired.body": (
            "我们邮件中的链接有效期为{days}天，因此没有记录任何内容。请回复{store}的任意"
            "一封邮件，我们会帮您处理。"
        ),
        "unknown.body": (
            "我们找不到这个链接所属的邮件，因此没有记录任何内容。请回复{store}的任意一封"
            "邮件，我们会帮您处理。"
        ),
        "not_a_choice": "这个回答不在可选范围内，因此没有记录任何内容。",
        "unavailable.title": "请稍后再试",
        "unavailable.body": (
            "我们暂时无法保存您的回答，所以一切都还没有变化。请过一分钟再从邮件中打开这个链接。"
        ),
    },
    "th": {
        "rated": "ขอบคุณค่ะ คุณให้คะแนนคำสั่งซื้อนี้ว่า{value}",
        "rating.good": "ดี",
        "rating.okay": "พอใช้",
        "rating.bad": "ไม่ดี",
        "rating.button.good": "ดี",
        "rating.button.okay": "พอใช้",
        "rating.button.bad": "ไม่ดี",
        "change": "ต้องการเปลี่ยนคำตอบไหมคะ",
        "comment.label": "มีอะไรอยากบอก {store} ไหมคะ (ไม่บังคับ)",
        "comment.button": "ส่งความคิดเห็น",
        "comment.thanks": "ขอบคุณสำหรับความคิดเห็นค่ะ {store} จะอ่านอย่างแน่นอน",
        "faq.yes": "ขอบคุณค่ะ ดีใจที่คำตอบนี้ช่วยคุณได้",
        "faq.no": "ขอบคุณที่บอกเราค่ะ เราจะปรับปรุงคำตอบนี้ให้ดีขึ้น",
        "faq.no.more": "ยังมีคำถามอยู่ไหมคะ ตอบกลับอีเมลมาได้เลย {store} ยินดีช่วยค่ะ",
        "faq.button.yes": "มีประโยชน์",
        "faq.button.no": "ไม่มีประโยชน์",
        "wait.done": "ขอบคุณค่ะ เราจะดำเนินการคำสั่งซื้อของคุณต่อไป",
        "wait.body": "{store} ทราบแล้วว่าคุณยินดีรอ และจะแจ้งให้ทราบหากมีอะไรเปลี่ยนแปลงค่ะ",
        # Filled in after "จะ" and "ขอให้ {store}": what the store does.
        "choice.refund": "ยกเลิกคำสั่งซื้อและคืนเงินให้คุณ",
        "choice.reship": "ส่งคำสั่งซื้อให้คุณด้วยบริการขนส่งที่เร็วกว่า",
        "ask.refund": "ต้องการยกเลิกคำสั่งซื้อและขอคืนเงินไหมคะ",
        "ask.reship": "ต้องการให้ส่งคำสั่งซื้อด้วยบริการขนส่งที่เร็วกว่าไหมคะ",
        "ask.body": "ตอนนี้ยังไม่มีอะไรเปลี่ยนแปลง กดปุ่มด้านล่าง แล้ว {store} จะ{choice}ค่ะ",
        "button.refund": "ยกเลิกคำสั่งซื้อและขอคืนเงิน",
        "button.reship": "ส่งด้วยบริการที่เร็วกว่า",
        "done.refund": "เรียบร้อยค่ะ คุณได้ขอคืนเงินแล้ว",
        "done.reship": "เรียบร้อยค่ะ คุณได้ขอการจัดส่งที่เร็วกว่าแล้ว",
        "choice.ship_ready": "ส่งสินค้าที่พร้อมแล้วไปก่อน แล้วส่งส่วนที่เหลือตามไปเมื่อของมาถึง",
        "ask.ship_ready": "ต้องการรับสินค้าที่พร้อมแล้วไปก่อน และรับส่วนที่เหลือเมื่อของมาถึงไหมคะ",
        "button.ship_ready": "ส่งสินค้าที่พร้อมแล้วไปก่อน",
        "done.ship_ready": "เรียบร้อยค่ะ เราจะส่งสินค้าที่พร้อมแล้วไปให้ตอนนี้เลย",
        "done.body": "{store} ได้รับคำขอของคุณแล้ว และจะ{choice} เราจะแจ้งให้ทราบทางอีเมลค่ะ",
        "chosen.title": "ก่อนหน้านี้คุณได้ขอให้ {store} {choice}",
        "chosen.body": "หากคุณต้องการรอคำสั่งซื้อต่อไปแทน กดปุ่มด้านล่างได้เลยค่ะ",
        "button.wait": "รอคำสั่งซื้อต่อไป",
        "bad.title": "ลิงก์นี้ใช้งานไม่ได้",
        "bad.body": (
            "ลิงก์นี้ไม่สมบูรณ์หรือไม่ถูกต้อง จึงยังไม่มีการบันทึกใดๆ ลิงก์อาจถูกตัดขาดตอนคัดลอก "
            "ลองเปิดลิงก์อีกครั้งจากอีเมล หรือตอบกลับอีเมลฉบับใดก็ได้จาก {store} ค่ะ"
        ),
        "expired.title": "ลิงก์นี้หมดอายุแล้ว",
        "expired.body": (
            "ลิงก์ในอีเมลของเราใช้ได้ {days} วัน จึงยังไม่มีการบันทึกใดๆ "
            "ตอบกลับอีเมลฉบับใดก็ได้จาก {store} แล้วเราจะช่วยดูให้ค่ะ"
        ),
        "unknown.body": (
            "เราหาอีเมลต้นทางของลิงก์นี้ไม่พบ จึงยังไม่มีการบันทึกใดๆ "
            "ตอบกลับอีเมลฉบับใดก็ได้จาก {store} แล้วเราจะช่วยดูให้ค่ะ"
        ),
        "not_a_choice": "คำตอบนี้ไม่ได้อยู่ในตัวเลือก จึงยังไม่มีการบันทึกใดๆ",
        "unavailable.title": "โปรดลองอีกครั้งในอีกหนึ่งนาที",
        "unavailable.body": (
            "ตอนนี้เรายังบันทึกคำตอบของคุณไม่ได้ จึงยังไม่มีอะไรเปลี่ยนแปลง โปรดเปิดลิงก์จากอีเมลอีกครั้งในอีกหนึ่งนาทีนะคะ"
        ),
    },
}

PAGE_LANGUAGES: tuple[str, ...] = tuple(TEXT)


def _language_and_script(tag: str) -> tuple[str, str | None]:
    """``zh-CN`` is ``("zh", "Hans")``, ``zh-TW`` ``("zh", "Hant")``, a bare ``zh`` its
    likely script (CLDR: Simplified), ``ru-UA`` ``("ru", "Cyrl")``; a tag Babel does not
    know is read by its language alone."""
    tag = tag.replace("-", "_")
    try:
        locale = Locale.parse(tag)
    except (ValueError, TypeError, UnknownLocaleError):
        try:
            locale = Locale.parse(tag.split("_", 1)[0].lower())
        except (ValueError, TypeError, UnknownLocaleError):
            return tag.split("_", 1)[0].lower(), None
    likely = get_global("likely_subtags")
    script = locale.script
    for known in (str(locale), locale.language):
        if script is None and known in likely:
            parts = likely[known].split("_")
            script = parts[1] if len(parts) > 2 else None
    return locale.language, script


# Each page language by the language and script it is written in.
_BY_SCRIPT: Mapping[tuple[str, str | None], str] = {
    _language_and_script(language): language for language in TEXT
}


def page_language(*candidates: str | None) -> str:
    """The first candidate locale (``de-AT``, ``fr_CA``, ``zh_Hans_SG``, ``en``) whose
    language and script the pages speak, else English. A script is never crossed (as
    ``rendering.translations.lookup_chain``): ``zh-TW`` does not get the Simplified page;
    an email the store wrote in Simplified to a Traditional reader has ``zh-CN`` as its
    locale already (``emails.locale_choice``)."""
    for candidate in candidates:
        if candidate:
            found = _BY_SCRIPT.get(_language_and_script(candidate))
            if found is not None:
                return found
    return FALLBACK


def words(language: str, name: str, **values: str) -> str:
    """Message ``name`` in ``language`` (English when it has none), filled in."""
    template = TEXT.get(language, {}).get(name) or TEXT[FALLBACK][name]
    return template.format(**values) if values else template
